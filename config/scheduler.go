package config

// Scheduler holds the ordered scheduler rules.
type Scheduler struct {
	Rules []SchedulerRule `yaml:"rules"`
}

// SchedulerRule is one scheduler rule: a CEL condition and an effect.
type SchedulerRule struct {
	ID     string `yaml:"id"`
	When   string `yaml:"when"`
	Effect string `yaml:"effect"`
}
