package helper

import (
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxFDsPerMessage is how many mount descriptors one message carries
// (the kernel takes up to 253).
const MaxFDsPerMessage = 64

// receiveMounts reads the descriptors of hs.Mounts from hs.MountFD.
func receiveMounts(hs *Spec) error {
	if hs.FailIdentityForTest && hs.Identity != nil {
		return fmt.Errorf("failed by a test")
	}
	want := 0
	for i := range hs.Mounts {
		hs.Mounts[i].fd = -1
		if hs.Mounts[i].Link == "" {
			want++
		}
	}
	if hs.MountFD <= 0 {
		return nil
	}
	defer unix.Close(hs.MountFD)
	var fds []int
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4*MaxFDsPerMessage))
	for len(fds) < want {
		_, oobn, _, _, err := unix.Recvmsg(hs.MountFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return fmt.Errorf("receiving the sandbox's mounts: %v", err)
		}
		if oobn == 0 {
			return fmt.Errorf("receiving the sandbox's mounts: %d of %d came", len(fds), want)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return fmt.Errorf("receiving the sandbox's mounts: %v", err)
		}
		for i := range msgs {
			r, err := unix.ParseUnixRights(&msgs[i])
			if err != nil {
				return fmt.Errorf("receiving the sandbox's mounts: %v", err)
			}
			fds = append(fds, r...)
		}
	}
	if len(fds) != want {
		return fmt.Errorf("receiving the sandbox's mounts: %d came for %d", len(fds), want)
	}
	for i := range hs.Mounts {
		if hs.Mounts[i].Link == "" {
			hs.Mounts[i].fd, fds = fds[0], fds[1:]
		}
	}
	return nil
}

// premounted returns the mount agentos made for p with the given layer
// role, or nil.
func premounted(hs Spec, p, layer string) *Mount {
	for i := range hs.Mounts {
		if hs.Mounts[i].Path == p && hs.Mounts[i].Layer == layer {
			return &hs.Mounts[i]
		}
	}
	return nil
}

// attach moves the detached mount m onto dst (created first).
func attach(m *Mount, dst string) error {
	if err := mkMountpoint(dst, m.Dir); err != nil {
		return err
	}
	return unix.MoveMount(m.fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// mountOverlayIdmapped mounts the task's copy-on-write view at dst in the
// new root from the idmapped layers agentos passed: they are attached
// under root for the mount (overlayfs takes private clones of its
// layers), then taken away again.
func mountOverlayIdmapped(hs Spec, root, dst string) error {
	ov := *hs.Overlay
	lower, upper := premounted(hs, ov.Lower, "lower"), premounted(hs, layerDir(ov), "upper")
	if lower == nil || upper == nil {
		return fmt.Errorf("the copy-on-write worktree's layers were not passed")
	}
	stage := root + "/.agentos-layers"
	if err := os.Mkdir(stage, 0o700); err != nil {
		return err
	}
	l, u := stage+"/lower", stage+"/upper"
	if err := attach(lower, l); err != nil {
		return fmt.Errorf("attaching the lower layer: %v", err)
	}
	if err := attach(upper, u); err != nil {
		return fmt.Errorf("attaching the task's layer: %v", err)
	}
	if err := mkMountpoint(dst, true); err != nil {
		return err
	}
	err := mountOverlay(Overlay{Lower: l, Upper: path.Join(u, strings.TrimPrefix(ov.Upper, upper.Path)), Work: path.Join(u, strings.TrimPrefix(ov.Work, upper.Path))}, dst)
	for _, p := range []string{l, u} {
		unix.Unmount(p, unix.MNT_DETACH)
		os.Remove(p)
	}
	os.Remove(stage)
	return err
}

// layerDir is the nearest directory holding both the overlay's upper and
// work directories.
func layerDir(ov Overlay) string {
	d := ov.Upper
	for d != "/" && !(within(ov.Upper, d) && within(ov.Work, d)) {
		d = parentDir(d)
	}
	return d
}

// LayerDir is layerDir for agentos (the parent makes that mount).
func LayerDir(lower, upper, work string) string {
	return layerDir(Overlay{Lower: lower, Upper: upper, Work: work})
}

func within(p, dir string) bool {
	return dir == "/" || p == dir || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}

func parentDir(p string) string {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}
