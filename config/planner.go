package config

// Planner selects and configures who proposes plans for requests.
type Planner struct {
	// Kind: file (default), openai, contractor.
	Kind string `yaml:"kind"`
}
