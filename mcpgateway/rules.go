// Package mcpgateway is the governed gateway between an agent and a
// third-party MCP server (`agentos mcp proxy`): it offers the agent only the
// tools a person pinned (their names, descriptions, schemas and annotations,
// by hash), decides every tools/call with the committed policy's mcp.rules
// (CEL: allow, ask a person, deny), records each decision in the audit
// chain with the call's arguments redacted, and forwards only what was
// allowed.
package mcpgateway

import (
	"fmt"
	"strings"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/google/cel-go/cel"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Call is what a rule sees of one tools/call.
type Call struct {
	Server      string
	Tool        string
	Annotations *mcp.ToolAnnotations
	Arguments   map[string]any
}

// Decision is the rules' answer to a Call.
type Decision struct {
	Effect string // config.MCPAllow, MCPAsk or MCPDeny
	Rule   string // the deciding rule's id, or "mcp.default"
	Reason string
}

// DefaultRule names the decision taken when no rule matches.
const DefaultRule = "mcp.default"

// Rules are the compiled mcp.rules of a policy. Safe for concurrent use.
type Rules struct {
	rules []compiled
	def   string
}

type compiled struct {
	cfg config.MCPRule
	prg cel.Program
}

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("server", cel.StringType),
		cel.Variable("tool", cel.StringType),
		cel.Variable("annotations", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("arguments", cel.MapType(cel.StringType, cel.DynType)),
	)
	if err != nil {
		panic(err)
	}
	return e
}()

// Compile type-checks every rule's condition: a rule that does not compile
// is a load error of the policy, named by its id.
func Compile(c config.MCP) (*Rules, error) {
	r := &Rules{def: c.Default}
	if r.def == "" {
		r.def = config.MCPDeny
	}
	for i, rc := range c.Rules {
		ast, iss := env.Compile(rc.When)
		if iss != nil && iss.Err() != nil {
			// CEL's message points at the column on further lines; the
			// first says what is wrong.
			msg, _, _ := strings.Cut(iss.Err().Error(), "\n")
			return nil, agentos.Errorf(agentos.EINVALID, "%s: mcp.rules[%d] (%s): when: %s", config.FileName, i, rc.ID, strings.TrimPrefix(msg, "ERROR: "))
		}
		if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
			return nil, agentos.Errorf(agentos.EINVALID, "%s: mcp.rules[%d] (%s): when must be a bool condition, not %v", config.FileName, i, rc.ID, ast.OutputType())
		}
		prg, err := env.Program(ast)
		if err != nil {
			return nil, agentos.Errorf(agentos.EINVALID, "%s: mcp.rules[%d] (%s): %v", config.FileName, i, rc.ID, err)
		}
		r.rules = append(r.rules, compiled{cfg: rc, prg: prg})
	}
	return r, nil
}

var rank = map[string]int{config.MCPAllow: 0, config.MCPAsk: 1, config.MCPDeny: 2}

// Decide evaluates every rule; the strictest matching effect wins, the
// first such rule names the decision. A condition that fails to evaluate
// (a missing argument, a wrong type) counts as matching for ask and deny
// rules and as not matching for allow rules: it fails closed.
func (r *Rules) Decide(c Call) Decision {
	args := c.Arguments
	if args == nil {
		args = map[string]any{}
	}
	vars := map[string]any{
		"server":      c.Server,
		"tool":        c.Tool,
		"annotations": annotationVars(c.Annotations),
		"arguments":   args,
	}
	var best *Decision
	for _, rc := range r.rules {
		out, _, err := rc.prg.Eval(vars)
		match := false
		reason := rc.cfg.Reason
		switch {
		case err != nil:
			match = rc.cfg.Effect != config.MCPAllow
			reason = fmt.Sprintf("%s (the condition did not evaluate: %v)", rc.cfg.Reason, err)
		default:
			b, ok := out.Value().(bool)
			match = ok && b
		}
		if !match {
			continue
		}
		if best == nil || rank[rc.cfg.Effect] > rank[best.Effect] {
			best = &Decision{Effect: rc.cfg.Effect, Rule: rc.cfg.ID, Reason: reason}
		}
	}
	if best != nil {
		return *best
	}
	return Decision{Effect: r.def, Rule: DefaultRule, Reason: "no mcp rule matches; mcp.default is " + r.def}
}

// annotationVars is the annotations as rules see them, with the defaults
// the MCP specification gives a tool that leaves a hint out (destructive
// and open-world: true). They are the server's claims, not facts.
func annotationVars(a *mcp.ToolAnnotations) map[string]any {
	m := map[string]any{"read_only": false, "destructive": true, "idempotent": false, "open_world": true, "title": ""}
	if a == nil {
		return m
	}
	m["read_only"], m["idempotent"], m["title"] = a.ReadOnlyHint, a.IdempotentHint, a.Title
	if a.DestructiveHint != nil {
		m["destructive"] = *a.DestructiveHint
	}
	if a.OpenWorldHint != nil {
		m["open_world"] = *a.OpenWorldHint
	}
	return m
}
