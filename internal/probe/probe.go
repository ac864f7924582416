// Package probe makes HTTP probes: one GET, its status and the start of its body. Judging the answer is the
// caller's business (package activities compares it with the check's spec).
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
)

// MaxBody is how much of a response body a probe reads. A longer body is cut here, not an error.
const MaxBody = 1 << 20

// Response is what a probe saw.
type Response struct {
	Status int
	// Body is at most MaxBody bytes of the response body.
	Body []byte
}

// Client sends probes. Build it with New; it is safe for concurrent use.
type Client struct {
	http *http.Client
}

// New returns a Client that opens a fresh connection for every probe, so that each probe sees the service as a
// new client would, and follows redirects like a browser.
func New() *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &Client{http: &http.Client{Transport: tr}}
}

// Get sends GET url and reads at most MaxBody bytes of the answer. ctx bounds the whole exchange. The error is
// non-nil when no complete answer arrived: a bad URL, a refused connection, a timeout, a broken body.
func (c *Client) Get(ctx context.Context, url string) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Response{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "ferry-probe")
	resp, err := c.http.Do(req)
	if err != nil {
		// The *url.Error around it repeats method and URL, which the caller already knows.
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return Response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return Response{Status: resp.StatusCode}, fmt.Errorf("read body: %w", err)
	}
	return Response{Status: resp.StatusCode, Body: body}, nil
}
