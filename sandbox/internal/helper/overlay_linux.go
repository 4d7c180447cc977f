package helper

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts ov at the host path at, in the calling process's own
// mount namespace. userxattr keeps overlayfs's marks (opaque directories)
// in user.* attributes, which an unprivileged user namespace may write;
// deletions are 0:0 character devices that overlayfs itself creates with
// the namespace's capabilities, so AgentOS never needs CAP_MKNOD.
func mountOverlay(ov Overlay, at string) error {
	for _, p := range []string{ov.Lower, ov.Upper, ov.Work} {
		// The legacy option string separates with , and :.
		if strings.ContainsAny(p, ",:\\\n") {
			return fmt.Errorf("overlay path %q contains , : or \\, which a mount option cannot carry", p)
		}
	}
	opts := "userxattr,lowerdir=" + ov.Lower + ",upperdir=" + ov.Upper + ",workdir=" + ov.Work
	if err := unix.Mount("agentos-worktree", at, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting the copy-on-write worktree at %s: %v", at, err)
	}
	return nil
}

// holdView is the helper's part of OpenView: mount, confirm, then wait
// until AgentOS closes stdin. Nothing is executed.
func holdView(repF *os.File, hs Spec) int {
	if hs.Overlay == nil {
		return report(repF, true, "hold: no overlay given")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return report(repF, true, "mount namespace: making mounts private: %v", err)
	}
	if err := mountOverlay(*hs.Overlay, hs.Worktree); err != nil {
		return report(repF, true, "%v", err)
	}
	enc := json.NewEncoder(repF)
	enc.Encode(Report{Started: true})
	// Requests: programs (git) that must see the view at its real path,
	// which only this namespace has (a path through /proc/PID/root is
	// resolved back to the host's by realpath).
	dec := json.NewDecoder(os.Stdin)
	for {
		var req ViewRequest
		if dec.Decode(&req) != nil {
			return 0
		}
		var resp ViewResponse
		out, errb, code, err := runView(req)
		switch {
		case err != nil:
			resp.Exit, resp.Error = -1, err.Error()
		default:
			resp.Exit = code
		}
		resp.Stdout, resp.Stderr = out, errb
		if enc.Encode(resp) != nil {
			return 0
		}
	}
}

// runView runs req and collects its output. os.StartProcess rather than
// os/exec, which would pull path/filepath and with it a late place in the
// order Go initialises packages in (see the package comment).
func runView(req ViewRequest) (stdout []byte, stderr string, code int, err error) {
	if len(req.Argv) == 0 {
		return nil, "", -1, fmt.Errorf("empty argv")
	}
	argv0, err := lookPath(req.Argv[0], req.Env)
	if err != nil {
		return nil, "", -1, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, "", -1, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, "", -1, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, "", -1, err
	}
	proc, err := os.StartProcess(argv0, req.Argv, &os.ProcAttr{Dir: req.Dir, Env: req.Env, Files: []*os.File{inR, outW, errW}})
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, "", -1, err
	}
	go func() {
		inW.Write(req.Stdin)
		inW.Close()
	}()
	errc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(errR)
		errR.Close()
		errc <- b
	}()
	out, _ := io.ReadAll(outR)
	outR.Close()
	errOut := <-errc
	st, err := proc.Wait()
	if err != nil {
		return out, string(errOut), -1, err
	}
	return out, string(errOut), st.ExitCode(), nil
}

// ViewRequest asks a holding helper (OpenView) to run a program in its view.
type ViewRequest struct {
	Argv  []string `json:"argv"`
	Dir   string   `json:"dir"`
	Env   []string `json:"env"`
	Stdin []byte   `json:"stdin,omitempty"`
}

// ViewResponse is what the program did.
type ViewResponse struct {
	Stdout []byte `json:"stdout"`
	Stderr string `json:"stderr"`
	Exit   int    `json:"exit"`
	Error  string `json:"error,omitempty"`
}
