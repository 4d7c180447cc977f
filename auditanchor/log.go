package auditanchor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/agentos/agentos"
)

// LogFile is the checkpoint log's name in .agentos/: one checkpoint per
// line, appended, never rewritten.
const LogFile = "checkpoints.jsonl"

// LogPath is the checkpoint log of the state directory dir.
func LogPath(dir string) string { return filepath.Join(dir, LogFile) }

// Append adds c to the log at path and syncs it: a checkpoint that a crash
// could lose would let the chain it vouches for be rolled back unnoticed.
func Append(path string, c Checkpoint) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "cannot write the checkpoint log %s: %v", path, err)
	}
	_, werr := f.Write(append(c.Marshal(), '\n'))
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return agentos.WrapError(agentos.EINTERNAL, werr, "cannot write the checkpoint log %s: %v", path, werr)
	}
	return nil
}

// Entry is a checkpoint as found, with where.
type Entry struct {
	Checkpoint
	// Where names it in messages: "checkpoints.jsonl line 3",
	// "refs/agentos/audit 1a2b3c4d5e6f".
	Where string
}

// ReadLog reads every checkpoint of the log at path (none when there is no
// log). A line that does not parse is an error naming it: someone edited
// the log.
func ReadLog(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the checkpoint log %s: %v", path, err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		where := fmt.Sprintf("%s line %d", LogFile, n)
		c, err := Parse(line)
		if err != nil {
			return out, agentos.Errorf(agentos.ECONFLICT, "%s does not parse: the checkpoint log was edited", where)
		}
		out = append(out, Entry{c, where})
	}
	if err := sc.Err(); err != nil {
		return out, agentos.WrapError(agentos.ECONFLICT, err, "cannot read the checkpoint log %s: %v", path, err)
	}
	return out, nil
}

// Last reads the newest checkpoint of the log at path from its tail alone
// (nil when there is none), so the check before every run costs the same
// however long the log is.
func Last(path string) (*Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the checkpoint log %s: %v", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const tail = 16 << 10
	off := max(st.Size()-tail, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the checkpoint log %s: %v", path, err)
	}
	buf = bytes.TrimRight(buf, "\n ")
	if len(buf) == 0 {
		return nil, nil
	}
	line := buf[bytes.LastIndexByte(buf, '\n')+1:]
	c, err := Parse(line)
	if err != nil {
		return nil, agentos.Errorf(agentos.ECONFLICT, "the last line of %s does not parse: the checkpoint log was edited", path)
	}
	return &Entry{c, LogFile + " (last line)"}, nil
}

// First reads the oldest checkpoint of the log at path (nil when there is
// none): a store's first checkpoint names where its trailers begin.
func First(path string) (*Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot read the checkpoint log %s: %v", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, sc.Err()
	}
	c, err := Parse(bytes.TrimSpace(sc.Bytes()))
	if err != nil {
		return nil, agentos.Errorf(agentos.ECONFLICT, "the first line of %s does not parse: the checkpoint log was edited", path)
	}
	return &Entry{c, LogFile + " line 1"}, nil
}
