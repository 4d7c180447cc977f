package agentos

// The MCP front doors' audit events: `agentos mcp` (AgentOS as an MCP
// server) and `agentos mcp proxy` (the governed gateway to a third-party
// MCP server) record every tool call, and `agentos mcp pin` every tool list
// a person approved.

// Audit event kinds of the MCP front doors.
const (
	// EventMCPCall: one tools/call through `agentos mcp` or `agentos mcp
	// proxy`, with its decision (data: MCPCallEvent).
	EventMCPCall = "mcp.call"
	// EventMCPPin: a person approved a third-party MCP server's tool list
	// (data: MCPPinEvent); the gateway offers only tools pinned so.
	EventMCPPin = "mcp.pin"
)

// MCPCallEvent is the data of mcp.call. Arguments is the call's arguments
// as JSON text, redacted; Client is what the MCP client said it is in
// initialize (name and version: advisory, the client chooses it).
type MCPCallEvent struct {
	Front     string `json:"front"`            // "server" (agentos mcp) or "gateway" (agentos mcp proxy)
	Transport string `json:"transport"`        // stdio or http
	Server    string `json:"server,omitempty"` // the gateway's upstream server name
	Tool      string `json:"tool"`
	Arguments string `json:"arguments"`
	Decision  string `json:"decision"` // allow, deny, ask-approved, ask-declined
	Rule      string `json:"rule,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Client    string `json:"client,omitempty"`
	// Principal is who the transport authenticated (an HTTP token's name).
	Principal string `json:"principal,omitempty"`
	// Outcome: ok, or the error's code (and for a command, its exit).
	Outcome string `json:"outcome,omitempty"`
	Task    string `json:"task,omitempty"` // the task a submission created
}

// MCPPinEvent is the data of mcp.pin: the tool list of server Server as a
// person approved it, each tool by the hash of its name, title,
// description, schemas and annotations (package mcpgateway computes it).
type MCPPinEvent struct {
	Server string       `json:"server"`
	Hash   string       `json:"hash"`
	Tools  []MCPToolPin `json:"tools"`
	// Previous is the hash of the pin this one replaces ("" for the first).
	Previous string `json:"previous,omitempty"`
	// Signed is the person's SSH signature over the pin (nil in solo use).
	Signed *SignedStatement `json:"signed,omitempty"`
	OSUser string           `json:"os_user,omitempty"`
}

// MCPToolPin is one pinned tool.
type MCPToolPin struct {
	Name        string `json:"name"`
	Hash        string `json:"hash"`
	Description string `json:"description"`
}
