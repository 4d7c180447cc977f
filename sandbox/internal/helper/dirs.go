// Package helper is the sandbox's helper process: the agentos binary
// re-executed in new namespaces, which builds the command's view of the
// file system, confines itself and execs the command.
//
// It is a package of its own so that the helper starts without the rest
// of agentos: Go initialises every linked package before main, and the
// full binary's initialisation (the policy language, the stores, the
// model clients) cost more than the whole sandbox setup. This package
// imports only the standard library's basics, x/sys/unix and Landlock;
// Go initialises packages in dependency order, lexically first among the
// ready ones (Go 1.21+), so its init runs after a few dozen small
// packages and, in the helper, never returns: it execs the command or
// exits. Keep its imports that small: each one (and what it pulls in)
// is initialised before every command AgentOS runs.
package helper

// SystemDirs are readable (and executable) by every command.
var SystemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}
