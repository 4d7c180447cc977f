// Package agentos holds the domain vocabulary of AgentOS: tasks and their
// single state machine, intents, plans, the packs (Question, Answer, Memory,
// Review), audit events, actors, modes and error codes.
//
// It imports only the standard library and canonjson; every capability
// (store, git, sandbox, policy, memory, planners) lives in its own package and
// speaks these types.
package agentos

// Version is the version of the agentos binary and of its document formats.
const Version = "0.1.0"

// DocVersion is the version stamped into every JSON artifact.
const DocVersion = 1
