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

// ForceSelfHelper makes this process start itself as the helper, as where
// the embedded helper cannot be executed.
func ForceSelfHelper(why string) (restore func()) {
	forceSelfHelper(why)
	return func() { embeddedOff.Store(nil) }
}
