package config

// Gate is one policy-as-code rule over a plan.
type Gate struct {
	ID        string   `yaml:"id"`
	When      string   `yaml:"when"`   // CEL condition
	Effect    string   `yaml:"effect"` // allow | require_approval | deny
	Message   string   `yaml:"message"`
	Approvers []string `yaml:"approvers"`
	Approvals int      `yaml:"approvals"`
}

// Redact configures secret redaction.
type Redact struct {
	Patterns []string `yaml:"patterns"`
}
