package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentos/agentos"
)

// Client is a Service served by a remote `agentos memory serve`.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

var _ Service = (*Client)(nil)

// maxResponseBytes bounds what the client reads from the service.
const maxResponseBytes = 64 << 20

// NewClient returns a client for the service at baseURL (http or https),
// sending token as a bearer token when it is not empty. hc nil means a
// client with a 30 s timeout.
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, agentos.Errorf(agentos.EINVALID, "memory.url %q: use http://HOST:PORT or https://HOST:PORT", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// do sends in (if not nil) as JSON and decodes the reply into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "the memory service at %s is unreachable: %v", c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "reading the memory service's reply: %v", err)
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(raw, &e) != nil || e.Code == "" {
			return agentos.Errorf(agentos.EINTERNAL, "the memory service at %s answered %s", c.base, resp.Status)
		}
		return agentos.Errorf(e.Code, "memory service: %s", e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return agentos.WrapError(agentos.EINTERNAL, err, "the memory service at %s sent a reply this agentos cannot read: %v", c.base, err)
	}
	return nil
}

// Add implements Service.
func (c *Client) Add(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	var out agentos.MemoryItem
	err := c.do(ctx, http.MethodPost, "/v1/memory/items", nil, item, &out)
	return out, err
}

// Remember is Add.
func (c *Client) Remember(ctx context.Context, item agentos.MemoryItem) (agentos.MemoryItem, error) {
	return c.Add(ctx, item)
}

// Get implements Service.
func (c *Client) Get(ctx context.Context, id string) (agentos.MemoryItem, error) {
	var out agentos.MemoryItem
	if id == "" {
		return out, notFound(id)
	}
	err := c.do(ctx, http.MethodGet, "/v1/memory/items/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// List implements Service.
func (c *Client) List(ctx context.Context, f ListFilter) ([]agentos.MemoryItem, error) {
	q := url.Values{}
	if f.Kind != "" {
		q.Set("kind", string(f.Kind))
	}
	if f.Tag != "" {
		q.Set("tag", f.Tag)
	}
	if f.Source != "" {
		q.Set("source", f.Source)
	}
	if f.All {
		q.Set("all", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out listResponse
	err := c.do(ctx, http.MethodGet, "/v1/memory/items", q, nil, &out)
	return out.Items, err
}

// Edit implements Service.
func (c *Client) Edit(ctx context.Context, id, text, actor string) (agentos.MemoryItem, error) {
	var out agentos.MemoryItem
	if id == "" {
		return out, notFound(id)
	}
	err := c.do(ctx, http.MethodPost, "/v1/memory/items/"+url.PathEscape(id)+"/edit", nil, editRequest{Text: text, Actor: actor}, &out)
	return out, err
}

// Remove implements Service.
func (c *Client) Remove(ctx context.Context, id, actor string) error {
	if id == "" {
		return notFound(id)
	}
	return c.do(ctx, http.MethodPost, "/v1/memory/items/"+url.PathEscape(id)+"/remove", nil, removeRequest{Actor: actor}, nil)
}

// Promote implements Service. The service promotes as the client its token
// names, whatever actor says.
func (c *Client) Promote(ctx context.Context, id string, kind agentos.MemoryKind, text, actor string) (agentos.MemoryItem, error) {
	var out agentos.MemoryItem
	if id == "" {
		return out, notFound(id)
	}
	err := c.do(ctx, http.MethodPost, "/v1/memory/items/"+url.PathEscape(id)+"/promote", nil, promoteRequest{Kind: kind, Text: text, Actor: actor}, &out)
	return out, err
}

// Search implements Service.
func (c *Client) Search(ctx context.Context, q Query) ([]Hit, error) {
	var out searchResponse
	err := c.do(ctx, http.MethodPost, "/v1/memory/search", nil, q, &out)
	return out.Hits, err
}

// BuildPack implements Service. The pack is re-hashed on receipt: a pack
// altered on the way is refused, never pinned.
func (c *Client) BuildPack(ctx context.Context, task string, q agentos.MemoryQuery) (agentos.MemoryPack, error) {
	var out agentos.MemoryPack
	if err := c.do(ctx, http.MethodPost, "/v1/memory/pack", nil, packRequest{Task: task, Query: q}, &out); err != nil {
		return agentos.MemoryPack{}, err
	}
	if err := VerifyPack(out); err != nil {
		return agentos.MemoryPack{}, fmt.Errorf("from the memory service at %s: %w", c.base, err)
	}
	return out, nil
}
