package session

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/agentos/agentos"
)

// defaultEndpoints are the public model endpoints of each CLI, used when
// its configuration and environment name none: Claude Code's API, Codex's
// API and its ChatGPT sign-in backend, and the providers OpenCode
// defaults to.
var defaultEndpoints = map[string][]string{
	"claude":   {"api.anthropic.com:443"},
	"codex":    {"api.openai.com:443", "chatgpt.com:443", "auth.openai.com:443"},
	"opencode": {"api.anthropic.com:443", "api.openai.com:443"},
}

// passEnv are the person's variables each CLI gets: its keys and endpoint
// settings, and what the terminal needs (locale, colours).
func passEnv(agent string) []string {
	term := append([]string{"COLORTERM", "NO_COLOR", "FORCE_COLOR"}, agentos.BaseEnvAllow()...)
	switch agent {
	case "claude":
		return append(term, "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
			"ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_CUSTOM_HEADERS", "CLAUDE_CODE_OAUTH_TOKEN")
	case "codex":
		return append(term, "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
	case "opencode":
		return append(term, "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY", "OPENCODE_CONFIG_CONTENT")
	}
	return term
}

// Endpoints returns the "host:port" destinations the agent may reach: the
// model endpoints its environment, its arguments and its configuration in
// home name, or its public defaults when none is named.
func Endpoints(agent string, args []string, getenv func(string) string, home, repo string) ([]string, error) {
	var urls []string
	switch agent {
	case "claude":
		urls = append(urls, getenv("ANTHROPIC_BASE_URL"))
		if v, ok := claudeSettingsEnv(home)["ANTHROPIC_BASE_URL"]; ok && getenv("ANTHROPIC_BASE_URL") == "" {
			urls = append(urls, v)
		}
	case "codex":
		urls = append(urls, getenv("OPENAI_BASE_URL"))
		urls = append(urls, baseURLs(strings.Join(args, "\n"), tomlBaseURL)...)
		if b, err := os.ReadFile(filepath.Join(codexHome(getenv, home), "config.toml")); err == nil {
			urls = append(urls, baseURLs(string(b), tomlBaseURL)...)
		}
	case "opencode":
		urls = append(urls, baseURLs(getenv("OPENCODE_CONFIG_CONTENT"), jsonBaseURL)...)
		if b, err := os.ReadFile(openCodeConfig(getenv, home)); err == nil {
			urls = append(urls, baseURLs(string(b), jsonBaseURL)...)
		}
	default:
		return nil, agentos.Errorf(agentos.EINVALID, "unknown agent %q", agent)
	}
	var out []string
	for _, u := range urls {
		if u == "" {
			continue
		}
		hp, err := hostPort(u)
		if err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "the %s model endpoint %q is not a URL AgentOS can allow: %v", agent, u, err)
		}
		if !slices.Contains(out, hp) {
			out = append(out, hp)
		}
	}
	if len(out) == 0 {
		out = slices.Clone(defaultEndpoints[agent])
	}
	return out, nil
}

// codexKeyVars are the variables Codex's configuration (or -c arguments)
// names as its providers' keys (env_key): they are passed to the session.
func codexKeyVars(args []string, getenv func(string) string, home string) []string {
	text := strings.Join(args, "\n")
	if b, err := os.ReadFile(filepath.Join(codexHome(getenv, home), "config.toml")); err == nil {
		text += "\n" + string(b)
	}
	var out []string
	for _, m := range tomlEnvKey.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

var (
	tomlEnvKey  = regexp.MustCompile(`env_key\s*=\s*["']([A-Za-z_][A-Za-z0-9_]*)["']`)
	tomlBaseURL = regexp.MustCompile(`base_url\s*=\s*["']([^"']+)["']`)
	jsonBaseURL = regexp.MustCompile(`"baseURL"\s*:\s*"([^"]+)"`)
)

func baseURLs(text string, re *regexp.Regexp) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// hostPort turns an endpoint URL into "host:port" (the scheme's port when
// none is written).
func hostPort(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		default:
			return "", errors.New("unknown scheme " + u.Scheme)
		}
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func codexHome(getenv func(string) string, home string) string {
	if v := getenv("CODEX_HOME"); v != "" {
		return v
	}
	return filepath.Join(home, ".codex")
}

func openCodeConfig(getenv func(string) string, home string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "opencode", "opencode.json")
}

// claudeSettingsEnv is the env map of the person's Claude Code user
// settings (the session runs with AgentOS's settings only, so what the
// person's settings set for the model travels through the environment).
func claudeSettingsEnv(home string) map[string]string {
	var s struct {
		Env map[string]string `json:"env"`
	}
	if b, err := os.ReadFile(filepath.Join(home, ".claude", "settings.json")); err == nil {
		json.Unmarshal(b, &s)
	}
	out := map[string]string{}
	for k, v := range s.Env {
		if strings.HasPrefix(k, "ANTHROPIC_") {
			out[k] = v
		}
	}
	return out
}

// seed gives the agent's fresh home what the person's CLI needs to start
// as it does for them: its login, and for Claude Code the onboarding state
// and the person's trust in this repository, carried over to the task's
// worktree. Nothing else of the person's home is visible to the agent.
func seed(agent string, getenv func(string) string, personHome, repo, home, worktree string) error {
	cp := func(src, dst string) error {
		b, err := os.ReadFile(src)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot read %s for the session: %v", src, err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot prepare the session's home: %v", err)
		}
		return os.WriteFile(dst, b, 0o600)
	}
	switch agent {
	case "claude":
		if err := cp(filepath.Join(personHome, ".claude", ".credentials.json"), filepath.Join(home, ".claude", ".credentials.json")); err != nil {
			return err
		}
		doc := map[string]any{}
		if b, err := os.ReadFile(filepath.Join(personHome, ".claude.json")); err == nil {
			json.Unmarshal(b, &doc)
		}
		projects, _ := doc["projects"].(map[string]any)
		// Only this repository's entry, under the worktree's path: the
		// other projects' history is none of the agent's business.
		kept := map[string]any{}
		if p, ok := projects[repo]; ok {
			kept[worktree] = p
		}
		doc["projects"] = kept
		b, err := json.Marshal(doc)
		if err != nil {
			return agentos.WrapError(agentos.EINTERNAL, err, "cannot write the session's Claude Code state: %v", err)
		}
		return os.WriteFile(filepath.Join(home, ".claude.json"), b, 0o600)
	case "codex":
		return cp(filepath.Join(codexHome(getenv, personHome), "auth.json"), filepath.Join(home, ".codex", "auth.json"))
	case "opencode":
		data := getenv("XDG_DATA_HOME")
		if data == "" {
			data = filepath.Join(personHome, ".local", "share")
		}
		return cp(filepath.Join(data, "opencode", "auth.json"), filepath.Join(home, "data", "opencode", "auth.json"))
	}
	return nil
}

// codexConfigArgs carries the model settings of the person's Codex
// configuration into the session (whose CODEX_HOME is AgentOS's own) as
// -c overrides: the top-level model and model_provider keys and every
// [model_providers.NAME] table's keys. Nothing else of it (hooks, sandbox,
// approval settings, MCP servers) is carried.
func codexConfigArgs(getenv func(string) string, home string) []string {
	b, err := os.ReadFile(filepath.Join(codexHome(getenv, home), "config.toml"))
	if err != nil {
		return nil
	}
	var out []string
	table := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			table = strings.Trim(line, "[] ")
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case table == "" && (key == "model" || key == "model_provider"):
			out = append(out, "-c", key+"="+val)
		case strings.HasPrefix(table, "model_providers.") && !strings.ContainsAny(table, `"'`):
			out = append(out, "-c", table+"."+key+"="+val)
		}
	}
	return out
}

// openCodeConfigContent carries the model settings of the person's OpenCode
// configuration (provider, model, small_model) into the session, whose
// configuration directory is AgentOS's own, as OPENCODE_CONFIG_CONTENT; ""
// when there is none (or it is not plain JSON).
func openCodeConfigContent(getenv func(string) string, home string) string {
	b, err := os.ReadFile(openCodeConfig(getenv, home))
	if err != nil {
		return ""
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	kept := map[string]json.RawMessage{}
	for _, k := range []string{"provider", "model", "small_model"} {
		if v, ok := doc[k]; ok {
			kept[k] = v
		}
	}
	if len(kept) == 0 {
		return ""
	}
	out, _ := json.Marshal(kept)
	return string(out)
}
