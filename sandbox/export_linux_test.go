package sandbox

// CgroupParents lists the directories runs' groups are created in, each once.
func CgroupParents() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range probed().parent {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// IdentityOffForTest makes runs start as the caller, as where the
// dedicated identity is unavailable (BenchmarkIdentityOverhead's A/B).
func IdentityOffForTest() (restore func()) {
	identityOffForTest = true
	return func() { identityOffForTest = false }
}

// FailIdentitySetupForTest makes the helper fail the dedicated identity's
// own setup, as a kernel without idmapped overlay layers would; restore
// also forgets what runs learnt from it.
func FailIdentitySetupForTest() (restore func()) {
	failIdentityForTest = true
	return func() {
		failIdentityForTest = false
		identityBroken.Clear()
	}
}

// ForceSelfHelper makes this process start itself as the helper, as where
// the embedded helper cannot be executed.
func ForceSelfHelper(why string) (restore func()) {
	forceSelfHelper(why)
	return func() { embeddedOff.Store(nil) }
}
