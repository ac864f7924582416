package router

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls a router's admin API. Its methods are safe for concurrent use. Each call is one HTTP request
// and retries nothing: its caller (a Temporal activity) retries.
type Client struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Token is the bearer token; empty sends none.
	Token string
	// HTTPClient sends the requests; nil means the package's own client, which uses no HTTP proxy from the
	// environment (the token must not pass through one) and bounds each call (see callTimeout).
	HTTPClient *http.Client
	// HealthWait and DrainTimeout are sent with SetWeights and Remove; 0 leaves the router's defaults
	// (DefaultHealthWait, DefaultDrainTimeout).
	HealthWait, DrainTimeout time.Duration
}

// APIError is an answer of the admin API other than 200.
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("router admin API: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Retryable reports whether the same call may succeed later: a backend not yet healthy (503), or a fault of
// the router (5xx). A refused routing (400), a wrong token (401), a missing route (404) or a host conflict
// (409) stays refused.
func (e *APIError) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

// SetWeights replaces the whole routing of routing.Service in routing.Env: tracks, backends, versions and
// weights at once. It validates locally first (returning an *InvalidError), then waits for the router,
// which switches once new backends pass their health checks and drains removed ones (see Router.Set).
// It is idempotent.
func (c *Client) SetWeights(ctx context.Context, routing Routing) (Status, error) {
	if err := routing.Validate(); err != nil {
		return Status{}, &InvalidError{Err: err}
	}
	q := url.Values{}
	if c.HealthWait > 0 {
		q.Set("healthWait", c.HealthWait.String())
	}
	if c.DrainTimeout > 0 {
		q.Set("drain", c.DrainTimeout.String())
	}
	var st Status
	err := c.do(ctx, http.MethodPut, routePath(routing.Service, routing.Env, "", q), routing, &st)
	return st, err
}

// Weights reads back the routing of service in env as the router serves it now. A missing route is an
// *APIError with StatusCode 404.
func (c *Client) Weights(ctx context.Context, service, env string) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, routePath(service, env, "", nil), nil, &st)
	return st, err
}

// Remove deletes the route of service in env; removing a missing route succeeds. It reports whether the
// removed backends finished their in-flight requests within the drain timeout.
func (c *Client) Remove(ctx context.Context, service, env string) (drained bool, err error) {
	q := url.Values{}
	if c.DrainTimeout > 0 {
		q.Set("drain", c.DrainTimeout.String())
	}
	var out struct{ Drained bool }
	err = c.do(ctx, http.MethodDelete, routePath(service, env, "", q), nil, &out)
	return out.Drained, err
}

// Pause holds the requests of service in env, each for at most maxHold, until Resume. It is idempotent.
func (c *Client) Pause(ctx context.Context, service, env string, maxHold time.Duration) (Status, error) {
	var st Status
	body := struct {
		MaxHold Duration `json:"maxHold"`
	}{Duration(maxHold)}
	err := c.do(ctx, http.MethodPost, routePath(service, env, "/pause", nil), body, &st)
	return st, err
}

// Resume releases the held requests of service in env. It is idempotent.
func (c *Client) Resume(ctx context.Context, service, env string) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodPost, routePath(service, env, "/resume", nil), nil, &st)
	return st, err
}

// callMargin is what callTimeout allows beyond the router's own waits.
var callMargin = time.Minute

// adminClient is the client of a Client without HTTPClient: its own transport, with no proxy and bounded
// dials and handshakes.
var adminClient = &http.Client{Transport: &http.Transport{
	Proxy:                 nil,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	MaxIdleConnsPerHost:   4,
	IdleConnTimeout:       90 * time.Second,
	ResponseHeaderTimeout: 0, // a change waits for health checks and drains: callTimeout bounds it
}}

// callTimeout bounds one call: the longest a change may wait on the router (its health wait and its
// drain), plus a minute for the rest.
func (c *Client) callTimeout() time.Duration {
	return cmp.Or(c.HealthWait, DefaultHealthWait) + cmp.Or(c.DrainTimeout, DefaultDrainTimeout) + callMargin
}

func routePath(service, env, suffix string, q url.Values) string {
	p := "/v1/routes/" + url.PathEscape(service) + "/" + url.PathEscape(env) + suffix
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("router admin API: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("router admin API: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = adminClient
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout())
	defer cancel()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("router admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("router admin API: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return &APIError{StatusCode: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("router admin API: decode answer: %w", err)
	}
	return nil
}
