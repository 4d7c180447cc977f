package agentos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/agentos/agentos/canonjson"
)

// Blob is a large step body as a store keeps it: once, by the SHA-256 of
// its bytes, however many plans hold it.
type Blob struct {
	Hash string
	Data string
}

// BlobChunk is the size of the pieces a store writes and reads a blob in,
// so no piece needs a second copy of the whole body.
const BlobChunk = 1 << 20

// BlobHash returns "sha256:<hex>" of data, hashed a piece at a time.
func BlobHash(data string) string {
	h := sha256.New()
	writeStringTo(h, data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// writeStringTo writes s to h through one small buffer: a hash takes
// []byte, and one conversion of a large string would copy all of it.
func writeStringTo(h hash.Hash, s string) {
	var buf [32 << 10]byte
	for len(s) > 0 {
		n := copy(buf[:], s)
		h.Write(buf[:n])
		s = s[n:]
	}
}

// PlanForStore returns the JSON a store keeps for p (canonical, as before)
// with each content or diff of StreamMin bytes or more replaced by a
// reference to its blob, and those blobs. The plan's hash is over the whole
// plan (ComputeHash), so the stored form verifies once PlanFromStore has put
// the bodies back.
func PlanForStore(p *Plan) ([]byte, []Blob, error) {
	q := *p
	var blobs []Blob
	for i, s := range q.Steps {
		if s.contentBlob != "" || s.diffBlob != "" {
			// Only a store sets a reference; one from outside would load
			// another plan's body.
			return nil, nil, Errorf(EINVALID, "step %d carries a blob reference: only a store sets one", i+1)
		}
		if len(s.Content) < StreamMin && len(s.Diff) < StreamMin {
			continue
		}
		if blobs == nil {
			q.Steps = slices.Clone(q.Steps)
		}
		st := &q.Steps[i]
		if len(s.Content) >= StreamMin {
			b := Blob{Hash: BlobHash(s.Content), Data: s.Content}
			blobs = append(blobs, b)
			st.Content, st.contentBlob = "", b.Hash
		}
		if len(s.Diff) >= StreamMin {
			b := Blob{Hash: BlobHash(s.Diff), Data: s.Diff}
			blobs = append(blobs, b)
			st.Diff, st.diffBlob = "", b.Hash
		}
	}
	body, err := canonjson.Marshal(q)
	return body, blobs, err
}

// PlanFromStore decodes a stored plan, reading each referenced blob with
// load. A blob whose bytes do not hash to its reference is refused
// (ECONFLICT): the plan's hash check would catch it too, but this names it.
func PlanFromStore(body []byte, load func(hash string) (string, error)) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		for _, f := range []struct {
			ref *string
			dst *string
		}{{&s.contentBlob, &s.Content}, {&s.diffBlob, &s.Diff}} {
			if *f.ref == "" {
				continue
			}
			if *f.dst != "" {
				return nil, fmt.Errorf("step %d has a body and a blob reference", i+1)
			}
			data, err := load(*f.ref)
			if err != nil {
				return nil, err
			}
			if err := CheckBlob(*f.ref, data); err != nil {
				return nil, err
			}
			*f.dst, *f.ref = data, ""
		}
	}
	return &p, nil
}

// PlanWithoutBodiesFromStore decodes a stored plan without its bodies:
// every step's Content and Diff empty, no blob read (see
// Store.PlanWithoutBodies).
func PlanWithoutBodiesFromStore(body []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, err
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		s.Content, s.Diff, s.contentBlob, s.diffBlob = "", "", "", ""
	}
	return &p, nil
}

// ReadBlob assembles a blob from its chunks, in order, into one string of
// the size recorded for it: the one copy of the body in memory.
//
// A database driver hands each chunk over in a buffer of its own: read at
// the default GC setting, a large blob's chunks would pile up as garbage
// to the size of the blob before a collection, so while one is read the
// collector runs at 10% growth (a few cheap collections: the chunks hold
// no pointers).
func ReadBlob(size int64, next func(add func([]byte)) error) (string, error) {
	if size >= StreamMin {
		defer LowerGC(10)()
	}
	var b strings.Builder
	b.Grow(int(size))
	if err := next(func(p []byte) { b.Write(p) }); err != nil {
		return "", err
	}
	if int64(b.Len()) != size {
		return "", Errorf(ECONFLICT, "stored blob is %d bytes, recorded as %d: the store was changed outside AgentOS", b.Len(), size)
	}
	return b.String(), nil
}

// BlobForStore returns what a store writes for a body that may be large:
// the body itself when it is under StreamMin, else "" and its blob.
func BlobForStore(body string) (string, *Blob) {
	if len(body) < StreamMin {
		return body, nil
	}
	return "", &Blob{Hash: BlobHash(body), Data: body}
}

// CheckBlob refuses data that does not hash to the blob it was read as.
func CheckBlob(hash, data string) error {
	if got := BlobHash(data); got != hash {
		return Errorf(ECONFLICT, "stored blob %s hashes to %s: the store was changed outside AgentOS", hash, got)
	}
	return nil
}

// gcLow counts the holders of a lowered GC setting (LowerGC).
var gcLow struct {
	sync.Mutex
	holders []int // the percent each holder asked for, in order
	saved   int   // the setting before the first holder
}

// LowerGC makes the garbage collector run at percent heap growth (or lower,
// if another holder asked for less) until the returned call, while a large
// body is in hand: its transient copies are collected before the heap
// doubles. The setting is process-wide and a server or worker handles
// several tasks at once, so holders are counted: the setting before the
// first comes back when the last one is done, whatever order they end in.
func LowerGC(percent int) (restore func()) {
	gcLow.Lock()
	defer gcLow.Unlock()
	if len(gcLow.holders) == 0 {
		gcLow.saved = debug.SetGCPercent(percent)
	}
	gcLow.holders = append(gcLow.holders, percent)
	debug.SetGCPercent(slices.Min(gcLow.holders))
	var once sync.Once
	return func() {
		once.Do(func() {
			gcLow.Lock()
			defer gcLow.Unlock()
			i := slices.Index(gcLow.holders, percent)
			gcLow.holders = slices.Delete(gcLow.holders, i, i+1)
			if len(gcLow.holders) == 0 {
				debug.SetGCPercent(gcLow.saved)
				return
			}
			debug.SetGCPercent(slices.Min(gcLow.holders))
		})
	}
}
