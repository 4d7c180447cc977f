package cli

import (
	"io"
	"os"

	"github.com/agentos/agentos/cli/cliexit"
	"golang.org/x/term"
)

// IOStreams are the command's streams plus terminal facts. Colour and
// progress redraws happen only on a terminal; NO_COLOR turns colour off.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	OutTTY, ErrTTY, InTTY bool
	NoColor               bool
}

func newIOStreams(in io.Reader, out, errOut io.Writer) *IOStreams {
	s := &IOStreams{In: in, Out: out, ErrOut: errOut}
	s.InTTY = isTerminal(in)
	s.OutTTY = isTerminal(out)
	s.ErrTTY = isTerminal(errOut)
	_, s.NoColor = os.LookupEnv("NO_COLOR")
	return s
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

var colors = cliexit.ANSI

// Color wraps s in an ANSI colour when stderr is a terminal and NO_COLOR is unset.
func (s *IOStreams) Color(name, text string) string {
	if !s.ErrTTY || s.NoColor {
		return text
	}
	return colors[name] + text + "\x1b[0m"
}

// OutColor is Color for stdout.
func (s *IOStreams) OutColor(name, text string) string {
	if !s.OutTTY || s.NoColor {
		return text
	}
	return colors[name] + text + "\x1b[0m"
}
