//go:build !linux

package sandbox

// SetIDWatch is RefuseSetID over roots (setidwatch_linux.go watches what
// a run touches instead).
type SetIDWatch struct{ roots []string }

// WatchSetID remembers roots; call Refuse after the run.
func WatchSetID(roots ...string) *SetIDWatch { return &SetIDWatch{roots} }

// Refuse is RefuseSetID over the roots.
func (w *SetIDWatch) Refuse() error { return RefuseSetID(w.roots...) }

// Close does nothing here.
func (w *SetIDWatch) Close() {}
