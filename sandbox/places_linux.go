package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentos/agentos/sandbox/internal/helper"
	"golang.org/x/sys/unix"
)

// ForRepository is r for the runs of one repository: each place they
// write in (rp) is probed on its own file system by a confined dry run
// there, the way a run starts (dryRunAt), and each kind of run gets what
// identityFor, the runs' own decision, now says for the places it
// writes in. The report's identity is the dedicated one only when every
// kind of run gets it.
func (r Report) ForRepository(rp RunPlaces) Report {
	if r.Identity == "" {
		return r // no check ran
	}
	id := rp.Identity.orDefault()
	worktrees := filepath.Join(rp.StateDir, "worktrees")
	bases := filepath.Join(rp.StateDir, "bases")
	contractors := filepath.Join(rp.StateDir, "contractors")
	temp := os.TempDir()
	wtName := "worktrees"
	if rp.Overlay {
		wtName = "task layers"
	}
	// A run writes in the repository and the cache themselves, with what
	// is mounted below them, and in a directory of its own in the others.
	itself := map[string]bool{"repository": true, "cache": true}
	places := []IdentityPlace{{Name: "repository", Path: rp.Repo}, {Name: wtName, Path: worktrees}}
	if rp.Overlay {
		places = append(places, IdentityPlace{Name: "shared checkouts", Path: bases})
	}
	places = append(places, IdentityPlace{Name: "contractors", Path: contractors}, IdentityPlace{Name: "temp", Path: temp})
	if rp.Cache != "" {
		places = append(places, IdentityPlace{Name: "cache", Path: rp.Cache})
	}
	// probeable: the confined dry runs can start here (when they cannot,
	// no run starts confined, and the reason is the check's own).
	probeable := identityStatic() == "" && r.dryRan
	at := map[string]string{} // place name -> the directory probed
	// The directories made for the probes are named as their places in
	// what the report says.
	var renames []string
	for i := range places {
		p := &places[i]
		dir := existingDir(p.Path)
		if dir != p.Path {
			p.Probed = dir
		}
		p.FS = fsTypeAt(dir)
		if probeable && !itself[p.Name] {
			if d, err := os.MkdirTemp(dir, ".agentos-identity-check-"); err == nil {
				defer os.RemoveAll(d)
				renames = append(renames, d, dir)
				dir = d
			}
		}
		at[p.Name] = dir
		reason := r.idReason
		if probeable {
			var err error
			if reason, err = dryRunAt(helperSpec{Worktree: dir}, id); err != nil {
				reason = fmt.Sprintf("a confined dry run there failed: %v", err)
			}
		}
		p.Dedicated, p.Reason = reason == "", reason
	}
	if probeable && rp.Overlay {
		// The layers' own setup (an overlay from idmapped layers, Linux
		// 5.19) is learnt by a run of that kind: one dry run over fresh
		// layers teaches it as a first run would.
		overlayDryRun(bases, worktrees, id)
	}
	named := strings.NewReplacer(renames...)
	for i := range places {
		places[i].Reason = named.Replace(places[i].Reason)
	}
	r.IdentityPlaces = places
	r.IdentityProbed = "this repository's runs: each place they write in, probed on its own file system by a confined dry run there"

	// Each kind of run, as identityFor decides it for a run writing in
	// its places (a task's layers: the shared checkout under them, and
	// the directory holding the upper and work directories).
	kind := func(runs, wt string, overlay bool, names ...string) IdentityRun {
		dir := at[wt]
		hs := helperSpec{Worktree: dir, ReadWrite: []string{at["temp"]}}
		if overlay {
			hs.Overlay = &helper.Overlay{Lower: at["shared checkouts"], Upper: filepath.Join(dir, "task"), Work: filepath.Join(dir, ".work", "task")}
		}
		places := append([]string{wt}, names...)
		places = append(places, "temp")
		if rp.Cache != "" {
			hs.ReadWrite = append(hs.ReadWrite, at["cache"])
			places = append(places, "cache")
		}
		reason := r.idReason
		if probeable {
			reason = identityFor(&hs, id)
		}
		k := IdentityRun{Runs: runs, Places: places, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Reason: named.Replace(reason)}
		if reason == "" {
			k.UID, k.GID, k.Dedicated = id.UID, id.GID, true
		}
		return k
	}
	var layers []string
	if rp.Overlay {
		layers = []string{"shared checkouts"}
	}
	r.IdentityRuns = []IdentityRun{
		kind("exec steps and verify checks", wtName, rp.Overlay, layers...),
		kind("contractors", "contractors", rp.Overlay, layers...),
		kind("agentos sandbox run", "repository", false),
	}
	var fall, kept []string
	first := ""
	for _, k := range r.IdentityRuns {
		if k.Dedicated {
			kept = append(kept, k.Runs)
		} else {
			fall = append(fall, k.Runs)
			if first == "" {
				first = k.Reason
			}
		}
	}
	r.setIdentity(first, id)
	if len(fall) > 0 && len(kept) > 0 {
		// Some runs keep the dedicated identity: the report says which,
		// and is not the dedicated one (identity_dedicated false).
		r.Identity = fmt.Sprintf("%s run as host uid %d (gid %d), with no capabilities, not as the dedicated identity, because %s; "+
			"%s run as host uid %d, gid %d, the sandbox's own unprivileged identity (sandbox.identity)",
			strings.Join(fall, ", "), *r.IdentityUID, *r.IdentityGID, first, strings.Join(kept, ", "), id.UID, id.GID)
	}
	r.Limitations = limitations(r.LandlockABI, r.IdentityDedicated)
	return r
}

// overlayDryRun dry-runs a task's copy-on-write worktree: a layer over
// an empty shared checkout, both made for it and removed after.
func overlayDryRun(bases, worktrees string, id Identity) {
	if !isDir(bases) || !isDir(worktrees) {
		return // no run has made them yet; the first run learns
	}
	lower, err := os.MkdirTemp(bases, ".identity-check-")
	if err != nil {
		return
	}
	defer os.RemoveAll(lower)
	upper, err := os.MkdirTemp(worktrees, ".identity-check-")
	if err != nil {
		return
	}
	defer os.RemoveAll(upper)
	work, err := os.MkdirTemp(worktrees, ".identity-check-work-")
	if err != nil {
		return
	}
	defer RemoveLayer(work)
	dryRunAt(helperSpec{Worktree: upper, Overlay: &helper.Overlay{Lower: lower, Upper: upper, Work: work}}, id)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// existingDir is p, or its nearest existing parent: the file system a
// run creating p would write on.
func existingDir(p string) string {
	p = filepath.Clean(p)
	for !isDir(p) && p != "/" && p != "." {
		p = filepath.Dir(p)
	}
	return p
}

// fsTypeAt names the type of the file system p is on.
func fsTypeAt(p string) string {
	var sf unix.Statfs_t
	if err := unix.Statfs(p, &sf); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fsTypeName(int64(sf.Type))
}
