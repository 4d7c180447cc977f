package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/agentos/agentos"
)

// reserveSize is the space .agentos/reserve holds back for a run's last
// records: the failed transition, the run's end and its ReviewPack (tails
// and digests, not whole outputs) fit in it many times over.
const reserveSize = 4 << 20

// reservePath is the ballast file the failure path deletes when the disk
// filled up under a run, so the run can still end failed with a ReviewPack.
func (c *Coordinator) reservePath() string { return filepath.Join(c.StateDir, "reserve") }

// preflight is what must hold before a run starts, checked by apply, run
// and every worker dispatch: the store proves it is whole (CheckStore, which
// the CLI wires: SQLite's quick_check and the audit chain since the last
// verified event), and the filesystem of .agentos/ has room for the run to
// end properly (the reserve in place, and store.min_free_mib free besides).
// Nothing runs otherwise: the task stays queued.
func (c *Coordinator) preflight(ctx context.Context) error {
	if c.CheckStore != nil {
		if err := c.CheckStore(ctx); err != nil {
			return err
		}
	}
	return c.checkSpace()
}

func (c *Coordinator) checkSpace() error {
	if err := ensureReserve(c.reservePath(), reserveSize); err != nil {
		return agentos.WrapError(agentos.EHELD, err, "not starting a run: cannot reserve %d MiB for its final records in %s (%v): free some space", reserveSize>>20, c.StateDir, errors.Unwrap(err))
	}
	free, ok := freeBytes(c.StateDir)
	if want := c.Config.MinFreeBytes(); ok && free < want {
		return agentos.Errorf(agentos.EHELD, "not starting a run: %s has %s free, below store.min_free_mib (%s): free some space (`agentos task clean` removes the worktrees kept of failed runs), or lower store.min_free_mib in agentos.yaml", c.StateDir, mib(free), mib(want))
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// releaseReserve frees the reserve when the filesystem is (nearly) full, so
// the failure path's writes find room; the next preflight makes it again.
func (c *Coordinator) releaseReserve() bool {
	if free, ok := freeBytes(c.StateDir); ok && free >= reserveSize {
		return false
	}
	return os.Remove(c.reservePath()) == nil
}

// dropReserve frees the reserve because a write just failed for want of
// space (whatever statfs says now: SQLite may need more than it shows);
// it reports whether there was one to free.
func (c *Coordinator) dropReserve() bool { return os.Remove(c.reservePath()) == nil }

// isNoSpace reports whether err is a full disk (or quota), as the OS or
// SQLite says it.
func isNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "disk is full") || strings.Contains(msg, "no space left") || strings.Contains(msg, "quota exceeded")
}
