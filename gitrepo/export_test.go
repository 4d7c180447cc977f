package gitrepo

// MayPrompt is mayPrompt, for the external tests.
var MayPrompt = mayPrompt
