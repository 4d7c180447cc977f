package cli

import (
	"context"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/cmdrule"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/gitrepo"
	"github.com/agentos/agentos/policy"
	"github.com/agentos/agentos/redact"
	"github.com/agentos/agentos/scheduler"
	"github.com/agentos/agentos/sqlite"
)

// Factory holds the streams and lazily built dependencies of every command.
type Factory struct {
	IO *IOStreams

	// Flags shared by all commands.
	Dir        string
	As         string
	Debug      bool
	JSONErrors bool
	Quiet      bool

	Now func() time.Time

	repo       *gitrepo.Repo
	cfg        *config.Config
	cfgChecked bool
	db         *sqlite.DB // read-write
	rodb       *sqlite.DB // read-only
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

// Config loads agentos.yaml from the repository root, with its gates and
// command rules compiled and their examples checked: rules are code too, so
// a rule that does not compile or whose examples fail is a load error of the
// policy file, named here rather than at the first plan that reaches it.
func (f *Factory) Config(ctx context.Context) (*config.Config, error) {
	c, err := f.ConfigUnchecked(ctx)
	if err != nil {
		return nil, err
	}
	if !f.cfgChecked {
		if _, err := policy.Load(c); err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "%s: %s (see `agentos policy test`)", config.FileName, agentos.ErrorMessage(err))
		}
		if _, err := cmdrule.New(c.Commands); err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "%s: commands: %s (see `agentos policy test`)", config.FileName, agentos.ErrorMessage(err))
		}
		if _, err := scheduler.New(c.Scheduler.Rules); err != nil {
			return nil, agentos.WrapError(agentos.EINVALID, err, "%s: scheduler: %s", config.FileName, agentos.ErrorMessage(err))
		}
		f.cfgChecked = true
	}
	return c, nil
}

// ConfigUnchecked loads agentos.yaml without compiling its rules, for
// `agentos policy test`, which reports every failing example itself.
func (f *Factory) ConfigUnchecked(ctx context.Context) (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	r, err := f.Repo(ctx)
	if err != nil {
		return nil, err
	}
	c, err := config.Load(filepath.Join(r.Root, config.FileName))
	if err != nil {
		return nil, err
	}
	f.cfg = c
	return c, nil
}

// DB opens the store of an initialised repository read-write (migrating it
// when this binary's schema is newer): for the verbs that change something.
// A missing database file is an error, never a silently created empty store.
func (f *Factory) DB(ctx context.Context) (*sqlite.DB, error) {
	if f.db != nil {
		return f.db, nil
	}
	path, err := f.dbPath(ctx)
	if err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, agentos.WrapError(agentos.EINTERNAL, err, "cannot open the AgentOS store: %v", err)
	}
	f.db = f.setupDB(ctx, db)
	return f.db, nil
}

// DBReadOnly opens the store for reading only: read verbs change nothing,
// not even by housekeeping or a migration. A verb that already opened the
// store read-write reads through that handle.
func (f *Factory) DBReadOnly(ctx context.Context) (*sqlite.DB, error) {
	if f.db != nil {
		return f.db, nil
	}
	if f.rodb != nil {
		return f.rodb, nil
	}
	path, err := f.dbPath(ctx)
	if err != nil {
		return nil, err
	}
	db, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	f.rodb = f.setupDB(ctx, db)
	return f.rodb, nil
}

// dbPath is the database file of an initialised repository.
func (f *Factory) dbPath(ctx context.Context) (string, error) {
	dir, err := f.StatePath(ctx)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dir); err != nil {
		return "", agentos.Errorf(agentos.ENOTFOUND, "this repository is not initialised for AgentOS: run `agentos init` first")
	}
	path := filepath.Join(dir, "agentos.db")
	if _, err := os.Stat(path); err != nil {
		return "", agentos.Errorf(agentos.ENOTFOUND, "the AgentOS store %s is missing: restore it from a backup, or run `agentos init` to start an empty one", path)
	}
	return path, nil
}

// setupDB gives an opened store the factory clock and the audit redaction.
func (f *Factory) setupDB(ctx context.Context, db *sqlite.DB) *sqlite.DB {
	db.Now = f.Now
	// Secrets never reach the audit log: redact with the built-in patterns
	// plus the policy's, when it loads.
	patterns := []string{}
	if cfg, err := f.ConfigUnchecked(ctx); err == nil {
		patterns = cfg.Redact.Patterns
	}
	if r, err := redact.New(patterns); err == nil {
		db.Redact = func(b []byte) []byte { return r.JSON(b) }
	}
	return db
}

// Task opens the store read-only and looks up a task by id or unique id
// prefix: the first step of the read verbs that take a TASK.
func (f *Factory) Task(ctx context.Context, id string) (*sqlite.DB, *agentos.Task, error) {
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

// Actor is the human running the command: --as, else git user.name, else the
// OS user. It can never be an agent identity.
func (f *Factory) Actor(ctx context.Context) (agentos.Actor, error) {
	name := strings.TrimSpace(f.As)
	if name == "" {
		if r, err := f.Repo(ctx); err == nil {
			if out, err := r.Git(ctx, "config", "user.name"); err == nil {
				name = strings.TrimSpace(out)
			}
		}
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	if strings.HasPrefix(name, "agent:") {
		return "", agentos.Errorf(agentos.EDENIED, "--as %q: an agent identity cannot act as a human", name)
	}
	name = strings.TrimPrefix(name, "human:")
	return agentos.Human(name), nil
}

// Close releases what the factory opened.
func (f *Factory) Close() {
	if f.db != nil {
		f.db.Close()
	}
	if f.rodb != nil {
		f.rodb.Close()
	}
}
