package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/agentos/agentos"
	"github.com/agentos/agentos/config"
	"github.com/agentos/agentos/memory"
	"github.com/spf13/cobra"
)

// NewCmdMemory builds `agentos memory` and its verbs.
func NewCmdMemory(f *Factory) *cobra.Command {
	cmd := group("memory", "What AgentOS knows about this repository: add, import, search, serve")
	cmd.Long = "The memory holds facts, conventions, decisions, answers and lessons. Every plan carries a frozen, " +
		"hashed selection of it (the MemoryPack). Edits and removals supersede items and keep their history. " +
		"With memory.url in agentos.yaml the commands use that remote memory service instead of the local store."
	cmd.AddCommand(newCmdMemoryAdd(f), newCmdMemoryImport(f), newCmdMemorySearch(f), newCmdMemoryList(f),
		newCmdMemoryShow(f), newCmdMemoryEdit(f), newCmdMemoryRm(f), newCmdMemoryServe(f), newCmdMemoryPack(f), newCmdMemoryPromote(f))
	return cmd
}

// memoryService is the memory agentos.yaml selects: remote by memory.url,
// else the local store, read-write. What the verbs write and print passes
// the policy's redactor (memory.Redacted).
func (f *Factory) memoryService(ctx context.Context) (memory.Service, error) {
	return f.memoryOn(ctx, f.DB)
}

// memoryReader is memoryService for the read verbs: the local store is
// opened read-only.
func (f *Factory) memoryReader(ctx context.Context) (memory.Service, error) {
	return f.memoryOn(ctx, f.DBReadOnly)
}

func (f *Factory) memoryOn(ctx context.Context, open func(context.Context) (agentos.Store, error)) (memory.Service, error) {
	cfg, err := f.Config(ctx)
	if err != nil {
		return nil, err
	}
	r, err := policyRedactor(cfg)
	if err != nil {
		return nil, err
	}
	var svc memory.Service
	if cfg.Memory.URL != "" {
		svc, err = memory.FromConfig(nil, cfg.Memory, os.Getenv)
	} else {
		var db agentos.Store
		if db, err = open(ctx); err != nil {
			return nil, err
		}
		svc, err = localMemory(db, cfg.Memory)
	}
	if err != nil {
		return nil, err
	}
	return memory.WithRedaction(svc, r.String), nil
}

// localMemory is the store's own memory, every write audited in its chain.
func localMemory(db agentos.Store, c config.Memory) (memory.Service, error) {
	ix, err := memoryIndex(db)
	if err != nil {
		return nil, err
	}
	svc, err := memory.FromConfig(ix, c, os.Getenv)
	if err != nil {
		return nil, err
	}
	return memory.WithAudit(svc, db), nil
}

// MemoryAddOptions are the inputs of `agentos memory add`.
type MemoryAddOptions struct {
	F          *Factory
	Text       string
	Kind       string
	Scope      []string
	Tags       []string
	Source     string
	Confidence float64
	JSON       bool
}

func newCmdMemoryAdd(f *Factory) *cobra.Command {
	opts := &MemoryAddOptions{F: f}
	cmd := &cobra.Command{
		Use:     "add TEXT",
		Short:   "Remember a fact, convention, decision, answer or lesson",
		Example: `  agentos memory add "Releases are cut from the release/* branches only" --kind convention --scope 'release/**' --tag release`,
		Args:    exactArgs(1, "TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Text = args[0]
			return memoryAddRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Kind, "kind", "fact", "fact, convention, decision, answer, lesson or observation")
	cmd.Flags().StringArrayVar(&opts.Scope, "scope", nil, "path `glob` the item concerns (repeatable; none: the whole repository)")
	cmd.Flags().StringArrayVar(&opts.Tags, "tag", nil, "a tag (repeatable)")
	cmd.Flags().StringVar(&opts.Source, "source", "", "where it comes from: file:line, a task id or a person")
	cmd.Flags().Float64Var(&opts.Confidence, "confidence", 1, "how sure, from 0 to 1")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryAddRun(ctx context.Context, opts *MemoryAddOptions) error {
	kind, err := memory.ParseKind(opts.Kind)
	if err != nil {
		return err
	}
	if opts.Confidence <= 0 || opts.Confidence > 1 {
		return usageErr("--confidence %v: must be more than 0 and at most 1", opts.Confidence)
	}
	svc, err := opts.F.memoryService(ctx)
	if err != nil {
		return err
	}
	actor, err := opts.F.Actor(ctx)
	if err != nil {
		return err
	}
	it, err := svc.Add(ctx, agentos.MemoryItem{Kind: kind, Text: opts.Text, Scope: opts.Scope, Tags: opts.Tags,
		Source: opts.Source, Author: string(actor), Confidence: opts.Confidence})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.F, it)
	}
	fmt.Fprintln(opts.F.IO.Out, it.ID)
	return nil
}

// MemoryImportOptions are the inputs of `agentos memory import`.
type MemoryImportOptions struct {
	F     *Factory
	Files []string
	Kind  string
	JSON  bool
}

// MemoryImportDoc is the --json document of `agentos memory import`.
type MemoryImportDoc struct {
	Version int                `json:"version"`
	Files   []MemoryImportFile `json:"files"`
}

// MemoryImportFile is what one file gave.
type MemoryImportFile struct {
	File    string               `json:"file"`
	Added   []agentos.MemoryItem `json:"added"`
	Skipped int                  `json:"skipped"`
}

func newCmdMemoryImport(f *Factory) *cobra.Command {
	opts := &MemoryImportOptions{F: f}
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import instruction files (AGENTS.md, CLAUDE.md, CONTRIBUTING.md), one item per bullet or paragraph",
		Long: "Each top-level bullet or paragraph becomes an item prefixed with its heading, with FILE:LINE as its source. " +
			"Importing a file again adds only text that is not already remembered from it.",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr("usage: %s FILE...", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return memoryImportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Kind, "kind", string(agentos.MemoryConvention), "kind of the imported items")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryImportRun(ctx context.Context, opts *MemoryImportOptions) error {
	kind, err := memory.ParseKind(opts.Kind)
	if err != nil {
		return err
	}
	svc, err := opts.F.memoryService(ctx)
	if err != nil {
		return err
	}
	actor, err := opts.F.Actor(ctx)
	if err != nil {
		return err
	}
	doc := MemoryImportDoc{Version: 1, Files: []MemoryImportFile{}}
	for _, name := range opts.Files {
		data, err := os.ReadFile(name)
		if err != nil {
			return agentos.WrapError(agentos.EINVALID, err, "cannot read %s: %v", name, err)
		}
		added, skipped, err := memory.Import(ctx, svc, sourceName(ctx, opts.F, name), data, kind, string(actor))
		if err != nil {
			return err
		}
		if added == nil {
			added = []agentos.MemoryItem{}
		}
		doc.Files = append(doc.Files, MemoryImportFile{File: name, Added: added, Skipped: skipped})
		if !opts.JSON {
			fmt.Fprintf(opts.F.IO.Out, "%s: %d added, %d already remembered\n", name, len(added), skipped)
		}
	}
	if opts.JSON {
		return printJSON(opts.F, doc)
	}
	return nil
}

// sourceName names an imported file relative to the repository root, so
// sources read the same whichever directory the import ran from.
func sourceName(ctx context.Context, f *Factory, name string) string {
	r, err := f.Repo(ctx)
	if err != nil {
		return name
	}
	abs, err := absPath(name)
	if err != nil {
		return name
	}
	if rel, ok := strings.CutPrefix(abs, r.Root+string(os.PathSeparator)); ok {
		return strings.ReplaceAll(rel, string(os.PathSeparator), "/")
	}
	return name
}

func absPath(name string) (string, error) {
	if strings.HasPrefix(name, string(os.PathSeparator)) {
		return name, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return wd + string(os.PathSeparator) + strings.TrimPrefix(name, "."+string(os.PathSeparator)), nil
}

// MemorySearchOptions are the inputs of `agentos memory search`.
type MemorySearchOptions struct {
	F     *Factory
	Query string
	Scope []string
	Limit int
	JSON  bool
}

// MemorySearchDoc is the --json document of `agentos memory search`.
type MemorySearchDoc struct {
	Version int          `json:"version"`
	Query   memory.Query `json:"query"`
	Hits    []memory.Hit `json:"hits"`
}

func newCmdMemorySearch(f *Factory) *cobra.Command {
	opts := &MemorySearchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Full-text search (bm25), items scoped to --scope paths first",
		Long: "Any text is a valid query: it is split into words, and items holding more and rarer words rank first. " +
			"Items scoped to a --scope path rank higher, items scoped elsewhere lower.",
		Args: exactArgs(1, "QUERY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Query = args[0]
			return memorySearchRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&opts.Scope, "scope", nil, "a `path` the task touches (repeatable)")
	cmd.Flags().IntVar(&opts.Limit, "limit", 10, "at most `N` hits")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memorySearchRun(ctx context.Context, opts *MemorySearchOptions) error {
	if opts.Limit < 1 || opts.Limit > memory.MaxLimit {
		return usageErr("--limit %d: must be between 1 and %d", opts.Limit, memory.MaxLimit)
	}
	svc, err := opts.F.memoryReader(ctx)
	if err != nil {
		return err
	}
	q := memory.Query{Text: opts.Query, Paths: opts.Scope, Limit: opts.Limit}
	hits, err := svc.Search(ctx, q)
	if err != nil {
		return err
	}
	if hits == nil {
		hits = []memory.Hit{}
	}
	if opts.JSON {
		return printJSON(opts.F, MemorySearchDoc{Version: 1, Query: q, Hits: hits})
	}
	if len(hits) == 0 {
		fmt.Fprintln(opts.F.IO.ErrOut, "no memory item matches")
		return nil
	}
	tw := tabwriter.NewWriter(opts.F.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCORE\tKIND\tSCOPE\tTEXT")
	for _, h := range hits {
		fmt.Fprintf(tw, "%s\t%.4g\t%s\t%s\t%s\n", h.Item.ID, h.Score, h.Item.Kind, scopeText(h.Item.Scope), oneLine(h.Item.Text, 80))
	}
	return tw.Flush()
}

// MemoryListOptions are the inputs of `agentos memory list`.
type MemoryListOptions struct {
	F      *Factory
	Filter memory.ListFilter
	Kind   string
	JSON   bool
}

// MemoryListDoc is the --json document of `agentos memory list`.
type MemoryListDoc struct {
	Version int                  `json:"version"`
	Items   []agentos.MemoryItem `json:"items"`
}

func newCmdMemoryList(f *Factory) *cobra.Command {
	opts := &MemoryListOptions{F: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Items, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return memoryListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Kind, "kind", "", "only this kind")
	cmd.Flags().StringVar(&opts.Filter.Tag, "tag", "", "only items with this tag")
	cmd.Flags().StringVar(&opts.Filter.Source, "source", "", "only items imported from this `file`")
	cmd.Flags().BoolVar(&opts.Filter.All, "all", false, "include edited and removed items")
	cmd.Flags().IntVar(&opts.Filter.Limit, "limit", 100, "at most `N` items")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryListRun(ctx context.Context, opts *MemoryListOptions) error {
	if opts.Kind != "" {
		k, err := memory.ParseKind(opts.Kind)
		if err != nil {
			return err
		}
		opts.Filter.Kind = k
	}
	if opts.Filter.Limit < 1 || opts.Filter.Limit > memory.MaxLimit {
		return usageErr("--limit %d: must be between 1 and %d", opts.Filter.Limit, memory.MaxLimit)
	}
	svc, err := opts.F.memoryReader(ctx)
	if err != nil {
		return err
	}
	items, err := svc.List(ctx, opts.Filter)
	if err != nil {
		return err
	}
	if items == nil {
		items = []agentos.MemoryItem{}
	}
	if opts.JSON {
		return printJSON(opts.F, MemoryListDoc{Version: 1, Items: items})
	}
	if len(items) == 0 {
		f := opts.Filter
		if f.Kind == "" && f.Tag == "" && f.Source == "" {
			fmt.Fprintln(opts.F.IO.ErrOut, "the memory is empty: add items with `agentos memory add` or `agentos memory import AGENTS.md`")
			return nil
		}
		var by []string
		if f.Kind != "" {
			by = append(by, "kind "+string(f.Kind))
		}
		if f.Tag != "" {
			by = append(by, "tag "+f.Tag)
		}
		if f.Source != "" {
			by = append(by, "source "+f.Source)
		}
		fmt.Fprintf(opts.F.IO.ErrOut, "no memory item with %s: `agentos memory list` shows all of them\n", strings.Join(by, " and "))
		return nil
	}
	tw := tabwriter.NewWriter(opts.F.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSCOPE\tSOURCE\tTEXT")
	for _, it := range items {
		text := oneLine(it.Text, 70)
		if it.SupersededBy != "" {
			text = "(superseded by " + it.SupersededBy + ") " + text
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, it.Kind, scopeText(it.Scope), dashIfEmpty(it.Source), text)
	}
	return tw.Flush()
}

// MemoryShowOptions are the inputs of `agentos memory show`.
type MemoryShowOptions struct {
	F    *Factory
	ID   string
	JSON bool
}

func newCmdMemoryShow(f *Factory) *cobra.Command {
	opts := &MemoryShowOptions{F: f}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "One item, including edited and removed ones",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return memoryShowRun(cmd.Context(), opts)
		},
	}
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryShowRun(ctx context.Context, opts *MemoryShowOptions) error {
	svc, err := opts.F.memoryReader(ctx)
	if err != nil {
		return err
	}
	it, err := svc.Get(ctx, opts.ID)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.F, it)
	}
	printItem(opts.F, it)
	return nil
}

func printItem(f *Factory, it agentos.MemoryItem) {
	w := f.IO.Out
	fmt.Fprintf(w, "id:          %s\n", it.ID)
	fmt.Fprintf(w, "kind:        %s\n", it.Kind)
	fmt.Fprintf(w, "scope:       %s\n", scopeText(it.Scope))
	fmt.Fprintf(w, "tags:        %s\n", dashIfEmpty(strings.Join(it.Tags, ", ")))
	fmt.Fprintf(w, "source:      %s\n", dashIfEmpty(it.Source))
	fmt.Fprintf(w, "author:      %s\n", dashIfEmpty(it.Author))
	fmt.Fprintf(w, "confidence:  %g\n", it.Confidence)
	fmt.Fprintf(w, "created:     %s\n", it.CreatedAt.Format("2006-01-02 15:04:05Z07:00"))
	fmt.Fprintf(w, "updated:     %s\n", it.UpdatedAt.Format("2006-01-02 15:04:05Z07:00"))
	switch it.SupersededBy {
	case "":
	case memory.Removed:
		fmt.Fprintf(w, "status:      removed\n")
	default:
		fmt.Fprintf(w, "status:      superseded by %s\n", it.SupersededBy)
	}
	fmt.Fprintf(w, "\n%s\n", it.Text)
}

// MemoryEditOptions are the inputs of `agentos memory edit`.
type MemoryEditOptions struct {
	F    *Factory
	ID   string
	Text string
	JSON bool
}

func newCmdMemoryEdit(f *Factory) *cobra.Command {
	opts := &MemoryEditOptions{F: f}
	cmd := &cobra.Command{
		Use:   "edit ID [TEXT]",
		Short: "Replace an item's text: a new item supersedes the old one, which stays readable",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErr("usage: %s ID TEXT (or ID --text TEXT)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if len(args) == 2 {
				if cmd.Flags().Changed("text") {
					return usageErr("give the new text once: as an argument or with --text")
				}
				opts.Text = args[1]
			} else if !cmd.Flags().Changed("text") {
				return usageErr("usage: %s ID TEXT (or ID --text TEXT)", cmd.CommandPath())
			}
			return memoryEditRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Text, "text", "", "the new text")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryEditRun(ctx context.Context, opts *MemoryEditOptions) error {
	svc, err := opts.F.memoryService(ctx)
	if err != nil {
		return err
	}
	actor, err := opts.F.Actor(ctx)
	if err != nil {
		return err
	}
	it, err := svc.Edit(ctx, opts.ID, opts.Text, string(actor))
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.F, it)
	}
	fmt.Fprintln(opts.F.IO.Out, it.ID)
	fmt.Fprintf(opts.F.IO.ErrOut, "%s supersedes %s\n", it.ID, opts.ID)
	return nil
}

// MemoryRmOptions are the inputs of `agentos memory rm`.
type MemoryRmOptions struct {
	F    *Factory
	ID   string
	JSON bool
}

// MemoryRmDoc is the --json document of `agentos memory rm`.
type MemoryRmDoc struct {
	Version      int    `json:"version"`
	ID           string `json:"id"`
	SupersededBy string `json:"superseded_by"`
}

func newCmdMemoryRm(f *Factory) *cobra.Command {
	opts := &MemoryRmOptions{F: f}
	cmd := &cobra.Command{
		Use:   "rm ID",
		Short: "Forget an item for search and packs; its history stays (show ID)",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return memoryRmRun(cmd.Context(), opts)
		},
	}
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryRmRun(ctx context.Context, opts *MemoryRmOptions) error {
	svc, err := opts.F.memoryService(ctx)
	if err != nil {
		return err
	}
	actor, err := opts.F.Actor(ctx)
	if err != nil {
		return err
	}
	if err := svc.Remove(ctx, opts.ID, string(actor)); err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.F, MemoryRmDoc{Version: 1, ID: opts.ID, SupersededBy: memory.Removed})
	}
	fmt.Fprintf(opts.F.IO.Out, "removed %s\n", opts.ID)
	return nil
}

// MemoryServeOptions are the inputs of `agentos memory serve`.
type MemoryServeOptions struct {
	F        *Factory
	Listen   string
	TokenEnv string
	Open     bool
}

// DefaultMemoryTokenEnv names the token variable when neither --token-env
// nor memory.token_env does.
const DefaultMemoryTokenEnv = "AGENTOS_MEMORY_TOKEN"

func newCmdMemoryServe(f *Factory) *cobra.Command {
	opts := &MemoryServeOptions{F: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve this repository's memory over HTTP JSON for other agents and workers",
		Long: "Serves search, add, get, list, edit, rm and pack under /v1/memory. Every request needs " +
			"`Authorization: Bearer TOKEN`, the token read from the variable --token-env names (default: memory.token_env, " +
			"else " + DefaultMemoryTokenEnv + "). --open serves without a token and only on a loopback address.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Open && cmd.Flags().Changed("token-env") {
				return usageErr("--open and --token-env exclude each other: an open service takes no token")
			}
			return memoryServeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:7788", "`host:port` to listen on")
	cmd.Flags().StringVar(&opts.TokenEnv, "token-env", "", "`NAME` of the environment variable holding the bearer token")
	cmd.Flags().BoolVar(&opts.Open, "open", false, "no token (loopback addresses only)")
	return cmd
}

func memoryServeRun(ctx context.Context, opts *MemoryServeOptions) error {
	cfg, err := opts.F.Config(ctx)
	if err != nil {
		return err
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	ix, err := memoryIndex(db)
	if err != nil {
		return err
	}
	r, err := policyRedactor(cfg)
	if err != nil {
		return err
	}
	so := memory.ServerOptions{Open: opts.Open, ErrorLog: opts.F.IO.ErrOut, Audit: db, Redact: r.String}
	if !opts.Open {
		for _, cl := range cfg.Memory.Serve.Clients {
			tok := os.Getenv(cl.TokenEnv)
			if tok == "" {
				return usageErr("memory.serve.clients: client %s reads its token from %s, which is empty: export %s=TOKEN", cl.Name, cl.TokenEnv, cl.TokenEnv)
			}
			so.Clients = append(so.Clients, memory.ServerClient{Name: cl.Name, Token: tok, Actor: agentos.Actor(cl.Actor)})
		}
		// The single token of the older form: named by the flag or
		// memory.token_env, or the default variable when no client is named.
		name := opts.TokenEnv
		if name == "" {
			name = cfg.Memory.TokenEnv
		}
		if name == "" && len(so.Clients) == 0 {
			name = DefaultMemoryTokenEnv
		}
		if name != "" {
			so.Token = os.Getenv(name)
			if so.Token == "" {
				return usageErr("the memory service needs a token (in the variable %s, or another one named with --token-env, or clients listed in memory.serve.clients), or pass --open on a loopback address", name)
			}
		}
	} else if len(cfg.Memory.Serve.Clients) > 0 {
		return usageErr("--open serves without tokens, but memory.serve.clients names clients: drop --open")
	}
	srv, err := memory.NewServer(memory.NewStore(ix), so)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
		return usageErr("--listen %q: use host:port, e.g. 127.0.0.1:7788", opts.Listen)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return agentos.WrapError(agentos.EINVALID, err, "cannot listen on %s: %v", opts.Listen, err)
	}
	defer ln.Close()
	mode := "bearer token required"
	if opts.Open {
		mode = "open to loopback clients, no token"
	}
	fmt.Fprintf(opts.F.IO.ErrOut, "agentos: memory service on http://%s (%s); stop with Ctrl-C\n", ln.Addr(), mode)
	return srv.Serve(ctx, ln)
}

// MemoryPromoteOptions are the inputs of `agentos memory promote`.
type MemoryPromoteOptions struct {
	F    *Factory
	ID   string
	Kind string
	Text string
	JSON bool
}

func newCmdMemoryPromote(f *Factory) *cobra.Command {
	opts := &MemoryPromoteOptions{F: f}
	cmd := &cobra.Command{
		Use:   "promote ID --kind lesson|convention|fact|decision|answer",
		Short: "Vouch for an item (usually an observation): it becomes a lesson, convention, fact, decision or answer by you",
		Long: "Observations are text AgentOS saw but nobody vouched for: command output, a model's or an agent's words. " +
			"They rank low in MemoryPacks. Promoting one writes a new item of --kind, authored by you, that supersedes it " +
			"(the observation stays readable with `memory show`); --text restates it in your words. The change is audited.",
		Example: `  agentos memory promote mem_01hx... --kind lesson --text "go test needs -race off on arm64"`,
		Args:    exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return memoryPromoteRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Kind, "kind", "", "lesson, convention, fact, decision or answer (required)")
	cmd.Flags().StringVar(&opts.Text, "text", "", "the item in your words (default: the observation's quoted text)")
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryPromoteRun(ctx context.Context, opts *MemoryPromoteOptions) error {
	if opts.Kind == "" {
		return usageErr("memory promote %s: say what it becomes with --kind lesson|convention|fact|decision|answer", opts.ID)
	}
	kind, err := memory.ParseKind(opts.Kind)
	if err != nil {
		return err
	}
	svc, err := opts.F.memoryService(ctx)
	if err != nil {
		return err
	}
	actor, err := opts.F.Actor(ctx)
	if err != nil {
		return err
	}
	it, err := svc.Promote(ctx, opts.ID, kind, opts.Text, string(actor))
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.F, it)
	}
	fmt.Fprintln(opts.F.IO.Out, it.ID)
	fmt.Fprintf(opts.F.IO.ErrOut, "%s (%s by %s) supersedes %s\n", it.ID, it.Kind, it.Author, opts.ID)
	return nil
}

// MemoryPackOptions are the inputs of `agentos memory pack`.
type MemoryPackOptions struct {
	F    *Factory
	Task string
	JSON bool
}

func newCmdMemoryPack(f *Factory) *cobra.Command {
	opts := &MemoryPackOptions{F: f}
	cmd := &cobra.Command{
		Use:   "pack TASK",
		Short: "The MemoryPack attached to a task's plan (the newest one)",
		Args:  exactArgs(1, "TASK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Task = args[0]
			return memoryPackRun(cmd.Context(), opts)
		},
	}
	addJSONFlag(cmd, f, &opts.JSON)
	return cmd
}

func memoryPackRun(ctx context.Context, opts *MemoryPackOptions) error {
	db, err := opts.F.DBReadOnly(ctx)
	if err != nil {
		return err
	}
	p, err := db.LatestMemoryPack(ctx, opts.Task) // re-checks the stored hash
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.F, p)
	}
	w := opts.F.IO.Out
	fmt.Fprintf(w, "MemoryPack %s for task %s\nhash:   %s\nquery:  %s\npaths:  %s\nbudget: %d bytes\n", p.ID, p.Task, p.Hash,
		dashIfEmpty(oneLine(p.Query.Text, 100)), dashIfEmpty(strings.Join(p.Query.Paths, " ")), p.Query.BudgetBytes)
	if len(p.Items) == 0 {
		fmt.Fprintln(w, "items:  none (the memory had nothing for this task)")
		return nil
	}
	fmt.Fprintf(w, "items:  %d\n\n", len(p.Items))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCORE\tKIND\tSOURCE\tTEXT")
	for _, it := range p.Items {
		fmt.Fprintf(tw, "%s\t%.4g\t%s\t%s\t%s\n", it.ID, it.Score, it.Kind, dashIfEmpty(it.Source), oneLine(it.Text, 70))
	}
	return tw.Flush()
}

func scopeText(scope []string) string {
	if len(scope) == 0 {
		return "*"
	}
	return strings.Join(scope, " ")
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine is the first line of s, cut to n runes.
func oneLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if cut {
		return s + " …"
	}
	return s
}
