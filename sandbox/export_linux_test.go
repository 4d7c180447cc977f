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
