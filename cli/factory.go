package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cli/policysource"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/mcpgateway"
	"github.com/agentos/agentos/memory"
	"github.com/agentos/agentos/policy"
	"github.com/agentos/agentos/postgres"
	"github.com/agentos/agentos/redact"
	"github.com/agentos/agentos/scheduler"
	"github.com/agentos/agentos/sqlite"
)

// Factory holds the streams and lazily built dependencies of every command.
type Factory struct {
	IO *IOStreams

	// Flags shared by all commands.
	Dir string
	As  string
	// KeyFile is --key: the SSH key that signs approvals, rejections and
	// answers (default: $AGENTOS_SIGNING_KEY, else ssh-agent).
	KeyFile    string
	Debug      bool
	JSONErrors bool
	Quiet      bool
	// Yes answers "apply?" in interactive mode up front (run --yes).
	Yes bool
	// progressEnd ends a running step's progress line (nil: none drawn).
	progressEnd func()
	// argv is the command line Main was given (for naming a mistyped
	// command whose flags cobra tried first).
	argv []string
	// errOut is the real stderr while --json sends everything but the
	// error object to io.Discard.
	errOut io.Writer
	// NoPager keeps long output off the pager (--no-pager).
	NoPager bool
	// JQ is --jq: an expression applied to a command's JSON output.
	JQ string

	Now func() time.Time

	// agent, when set, is who acts (an agent actor): the MCP server's
	// factories, so nothing they create is a person's and they can
	// decide nothing a person must (Actor, Decider).
	agent agentos.Actor

	repo       *gitrepo.Repo
	cfg        *config.Config
	cfgChecked bool
	db         agentos.Store // read-write
	rodb       agentos.Store // read-only
	guard      *storeGuard   // the read-write store's anchor (storecheck.go)
	// anchorLater defers the read-only store's anchor check to the verb
	// (audit verify: it reports the chain first, then the anchor).
	anchorLater bool
	anchorErr   error
	// closers release what identity lookup opened (the ssh-agent connection).
	closers []func()
	// telemetryOn: OpenTelemetry was set up (cli/telemetry.go).
	telemetryOn bool

	// origin is where cfg came from (policybase.go); policyNoticed: the
	// user was told when it is not the working tree's file.
	origin        *policyOrigin
	policyNoticed bool
	policySrc     *policysource.Source
}

// NewFactory returns a Factory over the given streams.
func NewFactory(in io.Reader, out, errOut io.Writer) *Factory {
	return &Factory{IO: newIOStreams(in, out, errOut), Now: time.Now}
}

// Repo returns the git repository the command works on.
func (f *Factory) Repo(ctx context.Context) (*gitrepo.Repo, error) {
	if f.repo != nil {
		return f.repo, nil
	}
	r, err := gitrepo.Open(ctx, f.Dir)
	if err != nil {
		return nil, err
	}
	f.repo = r
	return r, nil
}

// StatePath returns the .agentos directory of the repository.
func (f *Factory) StatePath(ctx context.Context) (string, error) {
	r, err := f.Repo(ctx)
	if err != nil {
		return "", err
	}
	return filepath.Join(r.Root, agentos.StateDir), nil
}

// Config loads the policy in force — agentos.yaml as committed at the
// target branch's head (policybase.go), never the working tree's — with its
// gates and command rules compiled and their examples checked: rules are code too, so
// a rule that does not compile or whose examples fail is a load error of the
// policy file, named here rather than at the first plan that reaches it.
func (f *Factory) Config(ctx context.Context) (*config.Config, error) {
	c, err := f.ConfigUnchecked(ctx)
	if err != nil {
		return nil, err
	}
	if !f.cfgChecked {
		if _, err := policy.Load(c); err != nil {
			// policy's errors already name the file and the command that helps.
			return nil, err
		}
		if _, err := cmdrule.New(c.Commands); err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "%s: commands: %s (see `agentos policy test`)", config.FileName, agentos.ErrorMessage(err))
		}
		if _, err := scheduler.New(c.Scheduler.Rules); err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "%s: scheduler: %s", config.FileName, agentos.ErrorMessage(err))
		}
		if len(c.MCP.Rules) > 0 {
			// The MCP gateway's rules (docs/mcp.md): named here too, not
			// first when `agentos mcp proxy` starts.
			if _, err := mcpgateway.Compile(c.MCP); err != nil {
				return nil, err
			}
		}
		f.cfgChecked = true
	}
	return c, nil
}

// ConfigUnchecked loads the policy in force without compiling its rules.
func (f *Factory) ConfigUnchecked(ctx context.Context) (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	c, err := f.loadPolicy(ctx)
	if err != nil {
		return nil, err
	}
	f.cfg = c
	return c, nil
}

// DB opens the store of an initialised repository read-write (migrating it
// when this binary's schema is newer): for the verbs that change something.
// The store is the PostgreSQL database $AGENTOS_STORE_URL or store.url
// names, else .agentos/agentos.db. A missing, empty, damaged or replaced
// store is an error, never a silently created empty one (only `agentos
// init` creates a store).
func (f *Factory) DB(ctx context.Context) (agentos.Store, error) {
	if f.db != nil {
		return f.db, nil
	}
	db, err := f.openStore(ctx, false)
	if err != nil {
		return nil, err
	}
	f.db = db
	return db, nil
}

// DBReadOnly opens the store for reading only: read verbs change nothing,
// not even by housekeeping or a migration. A verb that already opened the
// store read-write reads through that handle.
func (f *Factory) DBReadOnly(ctx context.Context) (agentos.Store, error) {
	if f.db != nil {
		return f.db, nil
	}
	if f.rodb != nil {
		return f.rodb, nil
	}
	db, err := f.openStore(ctx, true)
	if err != nil {
		return nil, err
	}
	f.rodb = db
	return db, nil
}

// openStore opens the store and checks it against the repository's anchor
// (storecheck.go): every verb notices a replaced store or lost events.
func (f *Factory) openStore(ctx context.Context, readOnly bool) (agentos.Store, error) {
	dir, err := f.stateDir(ctx)
	if err != nil {
		return nil, err
	}
	db, name, err := f.openStoreRaw(ctx, dir, readOnly)
	if err != nil {
		return nil, err
	}
	var files []string
	if _, ok := db.(*sqlite.DB); ok {
		files = []string{name, name + "-wal"}
	}
	g, err := guardStore(ctx, db, dir, name, files)
	if err == nil && g != nil {
		g.anchors = f.newAnchors(ctx, dir, g.id)
		if g.adopted {
			// No store.json (deleted, or never written): the checkpoints
			// and trailers still tell this store from a replaced one.
			err = unreadable(g.anchors.checkHead(ctx, db, true), name)
		}
	}
	if err != nil && readOnly && f.anchorLater {
		f.anchorErr, err = err, nil
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if !readOnly {
		f.guard = g
	}
	return db, nil
}

func (f *Factory) openStoreRaw(ctx context.Context, dir string, readOnly bool) (agentos.Store, string, error) {
	u, err := f.StoreURL(ctx)
	if err != nil {
		return nil, "", err
	}
	if u != "" {
		// postgres's errors name the URL with its password redacted.
		open := postgres.Open
		if readOnly {
			open = postgres.OpenReadOnly
		}
		db, err := open(ctx, u)
		if err != nil {
			return nil, "", err
		}
		return f.setupDB(ctx, db), db.URL, nil
	}
	// sqlite.Open never creates the file: a missing or empty store is
	// ENOTFOUND with how to restore it.
	path := filepath.Join(dir, "agentos.db")
	if readOnly {
		db, err := sqlite.OpenReadOnly(ctx, path)
		if err != nil {
			return nil, "", err
		}
		return f.setupDB(ctx, db), path, nil
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		if _, ok := err.(*agentos.Error); ok {
			return nil, "", err
		}
		return nil, "", agentos.WrapError(agentos.EINTERNAL, err, "cannot open the AgentOS store: %v", err)
	}
	return f.setupDB(ctx, db), path, nil
}

// StoreURL is the PostgreSQL store in force: $AGENTOS_STORE_URL (checked
// here) or store.url (checked when agentos.yaml loads); "" for SQLite.
func (f *Factory) StoreURL(ctx context.Context) (string, error) {
	if env := os.Getenv(config.EnvStoreURL); env != "" {
		if err := config.CheckStoreURL(config.EnvStoreURL, env); err != nil {
			return "", agentos.WrapError(agentos.EINVALID, err, "%v", err)
		}
	}
	cfg, err := f.ConfigUnchecked(ctx)
	if err != nil {
		// The store of a repository whose policy does not load: only the
		// variable can name one.
		return os.Getenv(config.EnvStoreURL), nil
	}
	return cfg.StoreURL(os.Getenv), nil
}

// stateDir is the .agentos directory of an initialised repository.
func (f *Factory) stateDir(ctx context.Context) (string, error) {
	dir, err := f.StatePath(ctx)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err != nil {
		return "", agentos.Errorf(agentos.ENOTFOUND, "this repository is not initialised for AgentOS: run `agentos init` first")
	}
	return dir, nil
}

// redactText redacts s with the built-in rules plus the policy's patterns,
// when the policy loads: for what the CLI prints itself (errors).
func (f *Factory) redactText(s string) string {
	r := redact.Default()
	if cfg, err := f.ConfigUnchecked(context.Background()); err == nil {
		if rr, err := redact.New(cfg.Redact.Patterns); err == nil {
			r = rr
		}
	}
	return r.String(s)
}

// setupDB gives an opened store the factory clock and the audit redaction.
func (f *Factory) setupDB(ctx context.Context, db agentos.Store) agentos.Store {
	// Secrets never reach the audit log: redact with the built-in patterns
	// plus the policy's, when it loads.
	patterns := []string{}
	if cfg, err := f.ConfigUnchecked(ctx); err == nil {
		patterns = cfg.Redact.Patterns
	}
	var redactJSON func([]byte) []byte
	if r, err := redact.New(patterns); err == nil {
		redactJSON = func(b []byte) []byte { return r.JSON(b) }
	}
	switch d := db.(type) {
	case *sqlite.DB:
		d.Now, d.Redact = f.Now, redactJSON
	case *postgres.DB:
		d.Now, d.Redact = f.Now, redactJSON
	}
	return db
}

// memoryIndex is the memory the store keeps (both adapters have one).
func memoryIndex(db agentos.Store) (memory.Index, error) {
	if s, ok := db.(interface{ Memory() memory.Index }); ok {
		return s.Memory(), nil
	}
	return nil, agentos.Errorf(agentos.EINVALID, "this store keeps no memory: set memory.url to a memory service")
}

// Task opens the store read-only and looks up a task by id or unique id
// prefix: the first step of the read verbs that take a TASK.
func (f *Factory) Task(ctx context.Context, id string) (agentos.Store, *agentos.Task, error) {
	db, err := f.DBReadOnly(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, err := db.Task(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return db, t, nil
}

// Close releases what the factory opened.
func (f *Factory) Close() {
	for _, c := range f.closers {
		c()
	}
	if f.db != nil {
		if f.guard != nil {
			// Best effort: a chain that no longer verifies keeps the old
			// anchor, and the next command's check says so.
			f.guard.advance(context.Background())
		}
		f.db.Close()
		if f.guard != nil {
			// After the close: its last checkpoint is part of what the
			// next command finds.
			f.guard.seal()
		}
	}
	if f.rodb != nil {
		f.rodb.Close()
	}
}
