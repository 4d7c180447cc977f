package memory

import (
	"path"
	"strings"
)

// matchGlob reports whether name matches pattern, where each "/"-separated
// segment is a path.Match pattern and "**" matches any number of segments.
func matchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// literalDir is the part of a glob before its first segment with a wildcard.
func literalDir(g string) string {
	segs := strings.Split(g, "/")
	for i, s := range segs {
		if hasMeta(s) {
			return strings.Join(segs[:i], "/")
		}
	}
	return g
}

// scopeMatches reports whether an item scoped to scope concerns a task that
// touches paths. Both sides may be files, directories or globs: a scope
// "release/**" concerns "release/v1.go", a scope "sqlite" concerns
// "sqlite/db.go", and a task on the directory "memory" concerns an item
// scoped to "memory/*.go".
func scopeMatches(scope, paths []string) bool {
	for _, p := range paths {
		p = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(p), "./"), "/")
		if p == "" || p == "." {
			continue
		}
		for _, g := range scope {
			if matchGlob(g, p) || matchGlob(g+"/**", p) {
				return true
			}
			if !hasMeta(p) {
				if d := literalDir(g); d == p || strings.HasPrefix(d, p+"/") {
					return true
				}
			} else if !hasMeta(g) && (matchGlob(p, g) || matchGlob(p+"/**", g)) {
				return true
			}
		}
	}
	return false
}
