//go:build linux

package sandbox_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"
	"unsafe"

	"github.com/agentos/agentos/sandbox"
	"golang.org/x/sys/unix"
)

// probeEnv makes the test binary act as a probe program inside the sandbox
// (it is Go, so it can issue raw syscalls that no shell tool exposes).
const probeEnv = "AGENTOS_TEST_PROBE"

// runProbe runs one escape attempt and exits 0 only if it succeeded.
func runProbe(name string, args []string) int {
	err := probe(name, args)
	if err != nil {
		fmt.Println("blocked:", err)
		return 1
	}
	fmt.Println("ESCAPED")
	return 0
}

func probe(name string, args []string) error {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch name {
	case "dial":
		c, err := net.DialTimeout("tcp", arg(0), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	case "echo":
		// Sends "ping", expects "pong" back: bytes both ways.
		c, err := net.DialTimeout("tcp", arg(0), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "pong" {
			return fmt.Errorf("got %q", buf)
		}
		if arg(1) == "hold" {
			// Leaves the connection open: the run's end must close it.
			fmt.Println("holding")
			time.Sleep(time.Hour)
		}
		return nil
	case "mptcp":
		// MPTCP is not TCP to Landlock's port rules: a bind it would
		// refuse a TCP socket goes through.
		ap, err := netip.ParseAddrPort(arg(0))
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	case "listen":
		ln, err := net.Listen("tcp", arg(0))
		if err == nil {
			ln.Close()
		}
		return err
	case "unix":
		c, err := net.DialTimeout("unix", arg(0), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	case "runner":
		// Plays agentos: runs a sandboxed command that outlives it.
		_, err := sandbox.Run(context.Background(), sandbox.Spec{
			Argv: []string{"/bin/sh", "-c", "sleep 1; echo late > late"}, Worktree: arg(0), Require: true,
		})
		return err
	case "udp":
		c, err := net.Dial("udp", arg(0))
		if err == nil {
			_, err = c.Write([]byte("x"))
			c.Close()
		}
		return err
	case "dns":
		_, err := net.LookupHost(arg(0))
		return err
	case "https":
		// GET URL trusting only the CA in the PEM file, prints the body:
		// a TLS client that names the host, as a package manager does.
		pem, err := os.ReadFile(arg(1))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", arg(1))
		}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := cl.Get(arg(0))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		fmt.Printf("body: %s\n", body)
		return err
	case "alloc":
		mib, _ := strconv.Atoi(arg(0))
		var keep [][]byte
		for range mib {
			b, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
			if err != nil {
				return fmt.Errorf("after %d MiB: %v", len(keep), err)
			}
			b[0] = 1
			keep = append(keep, b)
		}
		return nil
	case "ptrace":
		pid, _ := strconv.Atoi(arg(0))
		if pid == 0 {
			pid = os.Getppid()
		}
		return unix.PtraceAttach(pid)
	case "kill":
		pid, _ := strconv.Atoi(arg(0))
		return unix.Kill(pid, 0)
	case "unshare":
		return unix.Unshare(unix.CLONE_NEWUSER | unix.CLONE_NEWNS)
	case "mount":
		return unix.Mount("tmpfs", arg(0), "tmpfs", 0, "")
	case "remount":
		// Turn the read-only protected path writable again.
		return unix.MountSetattr(-1, arg(0), 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})
	case "umount":
		return unix.Unmount(arg(0), unix.MNT_DETACH)
	case "keyctl":
		_, err := unix.KeyctlJoinSessionKeyring("agentos-escape")
		return err
	case "bpf":
		_, _, e := unix.Syscall(unix.SYS_BPF, 0, 0, 0)
		return errnoErr(e)
	case "io_uring":
		params := make([]byte, 120)
		_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 8, uintptr(unsafePtr(params)), 0)
		return errnoErr(e)
	case "init_module":
		_, _, e := unix.Syscall(unix.SYS_FINIT_MODULE, 0, 0, 0)
		return errnoErr(e)
	case "chroot":
		return unix.Chroot("/")
	case "setuid-cap":
		// Capabilities gained by anything this process can exec are
		// bounded by what it has now.
		var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		if data[0].Effective|data[0].Permitted|data[1].Effective|data[1].Permitted != 0 {
			return nil
		}
		return fmt.Errorf("no capabilities")
	case "setid-open":
		// open(O_CREAT) with set-id bits (umask does not clear them).
		fd, err := unix.Open(arg(0), unix.O_CREAT|unix.O_WRONLY, 0o6755)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "setid-creat":
		_, _, e := unix.Syscall(unix.SYS_CREAT, uintptr(unsafeStr(arg(0))), 0o6755, 0)
		return rawErr(e)
	case "setid-tmpfile":
		// An unnamed file with set-id bits, then given a name.
		fd, err := unix.Open(".", unix.O_TMPFILE|unix.O_WRONLY, 0o6755)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, arg(0), unix.AT_SYMLINK_FOLLOW)
	case "setid-openat2":
		how := unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o6755}
		fd, err := unix.Openat2(unix.AT_FDCWD, arg(0), &how)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "setid-mknod":
		return unix.Mknod(arg(0), unix.S_IFREG|0o6755, 0)
	case "mknod-device":
		// /dev/sda's numbers: a block device node in the worktree.
		return unix.Mknod(arg(0), unix.S_IFBLK|0o666, int(unix.Mkdev(8, 0)))
	case "setid-fchmod":
		fd, err := unix.Open(arg(0), unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Fchmod(fd, 0o6755)
	case "setid-fchmodat2":
		_, _, e := unix.Syscall6(unix.SYS_FCHMODAT2, atFDCWD(), uintptr(unsafeStr(arg(0))), 0o6755, 0, 0, 0)
		return rawErr(e)
	case "file-capability":
		// A v2 security.capability granting cap_setuid (bit 7) permitted
		// and effective.
		capv := make([]byte, 20)
		capv[0], capv[3] = 1, 2 // magic 0x02000001: VFS_CAP_REVISION_2 | effective
		capv[4] = 1 << 7        // permitted[0]
		return unix.Setxattr(arg(0), "security.capability", capv, 0)
	case "netlink":
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	return fmt.Errorf("unknown probe %q", name)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	// EINVAL/EFAULT mean the kernel looked at our (junk) arguments: the
	// syscall itself got through.
	if e == unix.EINVAL || e == unix.EFAULT || e == unix.EBADF {
		return nil
	}
	return e
}

// rawErr is a raw syscall's result: nil only if it succeeded.
func rawErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func unsafeStr(s string) unsafe.Pointer {
	b, _ := unix.BytePtrFromString(s)
	return unsafe.Pointer(b)
}

func unsafePtr(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

func atFDCWD() uintptr {
	fd := unix.AT_FDCWD
	return uintptr(fd)
}
