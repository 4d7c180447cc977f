package mcpgateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/canonjson"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ToolHash is the SHA-256 of what an agent reads of a tool and what decides
// how it is called: its name, title, description, input and output schemas
// and annotations, in canonical JSON. Any change to them (a "rug pull": a
// description that starts giving the model instructions, a new argument)
// changes the hash.
func ToolHash(t *mcp.Tool) (string, error) {
	b, err := json.Marshal(struct {
		Name         string               `json:"name"`
		Title        string               `json:"title,omitempty"`
		Description  string               `json:"description"`
		InputSchema  any                  `json:"inputSchema"`
		OutputSchema any                  `json:"outputSchema,omitempty"`
		Annotations  *mcp.ToolAnnotations `json:"annotations,omitempty"`
	}{t.Name, t.Title, t.Description, t.InputSchema, t.OutputSchema, t.Annotations})
	if err != nil {
		return "", fmt.Errorf("tool %s: %v", t.Name, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("tool %s: %v", t.Name, err)
	}
	_, sum, err := canonjson.Digest(v)
	if err != nil {
		return "", fmt.Errorf("tool %s: %v", t.Name, err)
	}
	return sum, nil
}

// NewPin is the pin of a server's tool list as listed now: each tool by
// its hash, sorted by name, and the hash of the whole list.
func NewPin(server string, tools []*mcp.Tool) (agentos.MCPPinEvent, error) {
	p := agentos.MCPPinEvent{Server: server, Tools: []agentos.MCPToolPin{}}
	for _, t := range tools {
		h, err := ToolHash(t)
		if err != nil {
			return p, agentos.WrapError(agentos.EINVALID, err, "server %s: %v", server, err)
		}
		p.Tools = append(p.Tools, agentos.MCPToolPin{Name: t.Name, Hash: h, Description: t.Description})
	}
	slices.SortFunc(p.Tools, func(a, b agentos.MCPToolPin) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(p.Tools); i++ {
		if p.Tools[i].Name == p.Tools[i-1].Name {
			return p, agentos.Errorf(agentos.EINVALID, "server %s lists the tool %s twice", server, p.Tools[i].Name)
		}
	}
	p.Hash = PinHash(p.Tools)
	return p, nil
}

// PinHash is the hash of a pinned tool list (names and hashes).
func PinHash(tools []agentos.MCPToolPin) string {
	type nh struct {
		Name string `json:"name"`
		Hash string `json:"hash"`
	}
	l := make([]nh, 0, len(tools))
	for _, t := range tools {
		l = append(l, nh{t.Name, t.Hash})
	}
	return canonjson.MustDigest(l)
}

// Pinned is the tool list a person approved for one server: name -> hash.
type Pinned map[string]string

// PinnedFrom is the tool list of a pin event (nil: nothing pinned).
func PinnedFrom(p *agentos.MCPPinEvent) Pinned {
	if p == nil {
		return nil
	}
	m := Pinned{}
	for _, t := range p.Tools {
		m[t.Name] = t.Hash
	}
	return m
}

// ToolChange is how a server's tool differs from its pin.
type ToolChange struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "new" (never pinned), "changed" (hash differs), "gone" (pinned, no longer listed)
}

// Diff compares a server's tools as listed now with the pin.
func Diff(pinned Pinned, now agentos.MCPPinEvent) []ToolChange {
	var out []ToolChange
	seen := map[string]bool{}
	for _, t := range now.Tools {
		seen[t.Name] = true
		h, ok := pinned[t.Name]
		switch {
		case !ok:
			out = append(out, ToolChange{t.Name, "new"})
		case h != t.Hash:
			out = append(out, ToolChange{t.Name, "changed"})
		}
	}
	for name := range pinned {
		if !seen[name] {
			out = append(out, ToolChange{name, "gone"})
		}
	}
	slices.SortFunc(out, func(a, b ToolChange) int { return strings.Compare(a.Name, b.Name) })
	return out
}
