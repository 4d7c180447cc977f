package coordinator

import (
	"github.com/agentos/agentos"
	"github.com/agentos/agentos/approval"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/contractor"
)

// Conversions from the types of the packages that decide things to the
// audit payloads the root package registers (agentos.EventPayloads): the
// audit log's shape is the root package's, whatever those packages add.

func auditRequirements(rs []approval.Requirement) []agentos.ApprovalRequirement {
	var out []agentos.ApprovalRequirement
	for _, r := range rs {
		out = append(out, agentos.ApprovalRequirement(r))
	}
	return out
}

func auditSubCommands(ds []cmdrule.Decision) []agentos.CommandRuleSub {
	var out []agentos.CommandRuleSub
	for _, d := range ds {
		out = append(out, agentos.CommandRuleSub{RuleID: d.RuleID, Effect: d.Effect, Argv: d.Argv, Reason: d.Reason, Commands: auditSubCommands(d.Commands)})
	}
	return out
}

func contractorCommands(cs []contractor.Command) []agentos.ContractorCommand {
	out := make([]agentos.ContractorCommand, 0, len(cs))
	for _, c := range cs {
		out = append(out, agentos.ContractorCommand(c))
	}
	return out
}
