package policy

import (
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// Glob reports whether the slash-separated repository path p matches pattern:
//
//   - segments match as in path.Match (`*`, `?`, `[a-z]`), never across '/';
//   - `**` as a whole segment matches zero or more segments;
//   - a pattern ending in '/' matches everything below that directory;
//   - a pattern without '/' matches the base name at any depth (`*.pem`).
//
// A malformed pattern matches nothing; rules are checked at load with
// ValidGlob.
func Glob(p, pattern string) bool {
	g := compileGlob(pattern)
	if g.bad {
		return false
	}
	p = strings.TrimPrefix(p, "./")
	switch {
	case g.literal != "":
		return p == g.literal
	case g.prefix != "":
		return strings.HasPrefix(p, g.prefix) || p == g.prefix[:len(g.prefix)-1]
	}
	if g.base {
		return segMatch(g.segs[0], path.Base(p))
	}
	return matchSegs(g.segs, strings.Split(p, "/"))
}

// ValidGlob reports whether pattern is well formed.
func ValidGlob(pattern string) bool { return !compileGlob(pattern).bad }

type glob struct {
	segs []string
	base bool
	bad  bool
	// literal: a pattern without wildcards; prefix: "dir/" for "dir/**"
	// with a literal dir. Both skip segment matching.
	literal, prefix string
}

// globCache memoises compiled patterns: rules name a handful and are
// evaluated for every path of every plan. It is bounded: a pattern computed
// at evaluation time (glob(plan.paths, step.path)) must not grow it for the
// life of a worker; past globCacheMax patterns are compiled uncached.
var (
	globCache  sync.Map // pattern -> *glob
	globCached atomic.Int64
)

const globCacheMax = 1024

func compileGlob(pattern string) *glob {
	if g, ok := globCache.Load(pattern); ok {
		return g.(*glob)
	}
	g := &glob{}
	p := strings.TrimPrefix(pattern, "./")
	if strings.HasSuffix(p, "/") {
		p += "**"
	}
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		g.bad = true
	} else if !strings.Contains(p, "/") && p != "**" {
		g.base = true
		g.segs = []string{p}
	} else {
		g.segs = strings.Split(p, "/")
	}
	for _, s := range g.segs {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			g.bad = true
		}
	}
	if !g.bad && !g.base {
		lit := strings.Join(g.segs, "/")
		switch {
		case !strings.ContainsAny(lit, `*?[\`):
			g.literal = lit
		case strings.HasSuffix(lit, "/**") && !strings.ContainsAny(lit[:len(lit)-3], `*?[\`):
			g.prefix = lit[:len(lit)-2]
		}
	}
	if globCached.Load() < globCacheMax {
		if _, loaded := globCache.LoadOrStore(pattern, g); !loaded {
			globCached.Add(1)
		}
	}
	return g
}

func segMatch(pat, name string) bool {
	if pat == name {
		return true
	}
	ok, _ := path.Match(pat, name)
	return ok
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 || !segMatch(pat[0], name[0]) {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
