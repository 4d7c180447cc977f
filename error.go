package agentos

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one exit code in cli.ExitCode.
const (
	EINTERNAL         = "internal"          // a bug or an environment failure
	EINVALID          = "invalid"           // bad user input: flags, files, packs
	ENOTFOUND         = "not_found"         // unknown task, commit, item
	ECONFLICT         = "conflict"          // state changed underneath (stale plan, lock held, rebase conflict)
	EDENIED           = "denied"            // a red line or a rule refused it
	EFAILED           = "failed"            // the task ran and failed (step or verify)
	EBLOCKED          = "blocked"           // waiting for answers (QuestionPack)
	EAWAITINGAPPROVAL = "awaiting_approval" // waiting for a human approval of a plan hash
	EHELD             = "held"              // the scheduler kept the task queued (a hold rule, a full key, a lock)
	ECANCELLED        = "cancelled"         // the run was stopped: a signal, a cancel request, a worker shutting down
	EDECLINED         = "declined"          // a person answered no when asked to apply (the task stays planned)
)

// Error is an application error: Message is the one line a user reads (what is
// wrong and what to do next), Err keeps the cause for --debug.
type Error struct {
	Code    string
	Op      string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with code and message that keeps err as cause.
func WrapError(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL for any other non-nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Error()
	}
	return err.Error()
}

// Interrupt is why a run was stopped before it ended on its own: a signal
// to the process running it, a person's `agentos task cancel`, or a worker
// shutting down. It is the cause of the run's cancelled context
// (context.Cause), so every layer reads the same answer.
type Interrupt struct {
	// Signal names the signal ("SIGINT"); empty when none was sent.
	Signal string
	// Number is the signal's number: a command interrupted by it exits
	// 128+Number.
	Number int
	// Actor asked for the stop: System for a signal, the person for a
	// cancel request.
	Actor Actor
	// Reason is the one line recorded with the task.
	Reason string
	// Requeue puts the task back in the queue instead of cancelling it: a
	// worker stopping is not a decision about the task.
	Requeue bool
}

func (i *Interrupt) Error() string { return i.Reason }
