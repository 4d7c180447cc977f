package agentos

// Mode is an autonomy mode: how many questions a task may ask.
type Mode string

const (
	ModeInteractive Mode = "interactive"
	ModeSemiAuto    Mode = "semi_auto"
	ModeFullAuto    Mode = "full_auto"
)

// DefaultSemiAutoBudget is the semi_auto question budget when config says nothing.
const DefaultSemiAutoBudget = 3

// ParseMode validates a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeInteractive, ModeSemiAuto, ModeFullAuto:
		return Mode(s), nil
	case "":
		return ModeSemiAuto, nil
	}
	return "", Errorf(EINVALID, "unknown mode %q: use interactive, semi_auto or full_auto", s)
}

// Unlimited is the budget of interactive mode.
const Unlimited = -1

// QuestionBudget is red line 2's choke point: the only place that turns a
// configured budget into an effective one. full_auto is always zero, whatever
// the configuration says. configured < 0 means "not configured".
func QuestionBudget(mode Mode, configured int) int {
	switch mode {
	case ModeFullAuto:
		return 0
	case ModeInteractive:
		return Unlimited
	default:
		if configured < 0 {
			return DefaultSemiAutoBudget
		}
		return configured
	}
}
