// AgentOS review page: live updates (Server-Sent Events) and passkey
// signing (WebAuthn). No inline script anywhere: the CSP forbids it.
"use strict";
(function () {
  const meta = (n) => (document.querySelector('meta[name="' + n + '"]') || {}).content || "";
  const base = meta("base");
  const csrf = meta("csrf");
  const status = document.getElementById("live-status");

  const b64u = {
    enc(buf) {
      let s = "";
      new Uint8Array(buf).forEach((b) => (s += String.fromCharCode(b)));
      return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
    dec(str) {
      const s = atob(str.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((str.length + 3) % 4));
      return Uint8Array.from(s, (c) => c.charCodeAt(0));
    },
  };

  async function post(url, body) {
    const r = await fetch(base + url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const j = await r.json().catch(() => ({ error: "the server answered " + r.status }));
    if (!r.ok) throw new Error(j.error || "failed (" + r.status + ")");
    return j;
  }

  function say(form, text, bad) {
    const out = form.querySelector(".result");
    if (!out) return;
    out.textContent = text;
    out.classList.toggle("error", !!bad);
  }

  // Live updates: when the audit chain grows, refetch this page and swap
  // every [data-live] region; forms being filled in are left alone.
  const live = document.querySelectorAll("[data-live]");
  let busy = false, again = false;
  const refresh = async () => {
    if (!live.length) return;
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html", "X-Agentos-Live": "1" } });
      if (r.ok) {
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        live.forEach((el) => {
          const n = doc.querySelector('[data-live="' + el.dataset.live + '"]');
          if (n && n.innerHTML !== el.innerHTML) el.innerHTML = n.innerHTML;
        });
        if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  };
  if (live.length && window.EventSource) {
    // A region of one task (data-task) refreshes only when an event names it.
    const concerns = (c) => [...live].some((el) => !el.dataset.task || c.all || (c.tasks || []).includes(el.dataset.task));
    const es = new EventSource(base + "/events");
    es.addEventListener("change", (ev) => {
      let c = { all: true };
      try { c = JSON.parse(ev.data); } catch (e) { /* refresh */ }
      if (concerns(c)) refresh();
    });
  }

  // Sign a decision: begin (the server prepares the statement), the
  // passkey signs its hash, finish (the server records it).
  async function sign(form, task, body) {
    say(form, "Preparing the statement…");
    const ch = await post("/tasks/" + encodeURIComponent(task) + "/sign/begin", body);
    say(form, "Touch your passkey to sign: " + ch.statement);
    const cred = await navigator.credentials.get({
      publicKey: {
        challenge: b64u.dec(ch.challenge),
        rpId: ch.rp_id,
        allowCredentials: ch.allow.map((id) => ({ type: "public-key", id: b64u.dec(id) })),
        userVerification: "required",
        timeout: ch.timeout_ms,
      },
    });
    const r = cred.response;
    const done = await post("/tasks/" + encodeURIComponent(task) + "/sign/finish", {
      id: ch.id,
      assertion: {
        credential_id: b64u.enc(cred.rawId),
        authenticator_data: b64u.enc(r.authenticatorData),
        client_data_json: b64u.enc(r.clientDataJSON),
        signature: b64u.enc(r.signature),
        user_handle: r.userHandle ? b64u.enc(r.userHandle) : "",
      },
    });
    // The decision is recorded: the form has done its part, and the
    // message stays where a screen reader announced it.
    form.querySelectorAll("button, input, textarea").forEach((el) => (el.disabled = true));
    say(form, done.message);
    refresh();
  }

  const decide = document.getElementById("decide-form");
  if (decide) {
    decide.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const decision = ev.submitter ? ev.submitter.value : "approve";
      const comment = decide.elements.comment.value;
      sign(decide, decide.dataset.task, { decision, plan_hash: decide.elements.plan_hash.value, comment })
        .catch((e) => say(decide, e.message, true));
    });
  }

  const answer = document.getElementById("answer-form");
  if (answer) {
    answer.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const answers = {};
      new FormData(answer).forEach((v, k) => { if (k.startsWith("q:")) answers[k.slice(2)] = String(v); });
      sign(answer, answer.dataset.task, {
        decision: "answer", pack: answer.elements.pack.value, pack_hash: answer.elements.pack_hash.value, answers,
      }).catch((e) => say(answer, e.message, true));
    });
  }

  const reg = document.getElementById("register-form");
  if (reg) {
    reg.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const o = await post("/passkeys/begin", {});
        say(reg, "Create the passkey on your authenticator…");
        const cred = await navigator.credentials.create({
          publicKey: {
            challenge: b64u.dec(o.challenge),
            rp: o.rp,
            user: { id: b64u.dec(o.user.id), name: o.user.name, displayName: o.user.displayName },
            pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -8 }, { type: "public-key", alg: -257 }],
            authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
            attestation: "none",
            timeout: o.timeout_ms,
          },
        });
        const done = await post("/passkeys/finish", {
          id: o.id,
          credential: {
            id: cred.id, rawId: b64u.enc(cred.rawId), type: cred.type,
            response: { clientDataJSON: b64u.enc(cred.response.clientDataJSON), attestationObject: b64u.enc(cred.response.attestationObject) },
          },
        });
        reg.elements["policy-line"].value = "  - " + done.line;
        say(reg, "Passkey created. Commit this line to agentos.yaml for it to count.");
      } catch (e) {
        say(reg, e.message, true);
      }
    });
  }
})();
