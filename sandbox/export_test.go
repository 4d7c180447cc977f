package sandbox

// DisableForTest makes Run see a static feature (landlock, seccomp) as
// missing, to exercise the refusal and the unconfined fallback.
func DisableForTest(name string) (restore func()) {
	disabledForTest[name] = true
	return func() { delete(disabledForTest, name) }
}
