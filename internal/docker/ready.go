package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ReadyCheck says when a container is ready: Threshold consecutive answers 200 to GET Path on its published
// address, probed every Interval, within Timeout in all.
type ReadyCheck struct {
	// Path is the readiness path, e.g. "/readyz".
	Path string
	// Interval between probes of one container; 1 second if zero. It also bounds each request.
	Interval time.Duration
	// Timeout for all the containers to become ready; 1 minute if zero.
	Timeout time.Duration
	// Threshold is how many consecutive 200s make a container ready; 1 if zero.
	Threshold int
}

// NotReadyError lists the containers that did not become ready in time, with the last probe result of each.
type NotReadyError struct {
	// Last maps a container name to its last probe result, e.g. "503 Service Unavailable".
	Last map[string]string
}

func (e *NotReadyError) Error() string {
	parts := make([]string, 0, len(e.Last))
	for name, last := range e.Last {
		parts = append(parts, name+": "+last)
	}
	return "docker: containers not ready: " + strings.Join(parts, "; ")
}

// WaitReady probes the containers until each is ready by check, or returns a *NotReadyError when check.Timeout
// passes, or ctx's error. It only reads, so calling it again is safe.
func (c *Client) WaitReady(ctx context.Context, cts []Container, check ReadyCheck) error {
	if check.Interval <= 0 {
		check.Interval = time.Second
	}
	if check.Timeout <= 0 {
		check.Timeout = time.Minute
	}
	if check.Threshold <= 0 {
		check.Threshold = 1
	}
	if !strings.HasPrefix(check.Path, "/") {
		check.Path = "/" + check.Path
	}
	hc := &http.Client{Timeout: check.Interval}
	streak := make(map[string]int, len(cts))
	last := make(map[string]string, len(cts))
	for _, ct := range cts {
		if ct.Addr == "" {
			return fmt.Errorf("docker: container %s has no published address", ct.Name)
		}
		last[ct.Name] = "not probed"
	}
	deadline := time.NewTimer(check.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(check.Interval)
	defer tick.Stop()
	for {
		pending := 0
		for _, ct := range cts {
			if streak[ct.Name] >= check.Threshold {
				continue
			}
			if res := probe(ctx, hc, "http://"+ct.Addr+check.Path); res == "" {
				streak[ct.Name]++
				delete(last, ct.Name)
			} else {
				streak[ct.Name] = 0
				last[ct.Name] = res
			}
			if streak[ct.Name] < check.Threshold {
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker: wait ready: %w", ctx.Err())
		case <-deadline.C:
			notReady := make(map[string]string)
			for _, ct := range cts {
				if streak[ct.Name] < check.Threshold {
					notReady[ct.Name] = cmp.Or(last[ct.Name], fmt.Sprintf("200 %d of %d times", streak[ct.Name], check.Threshold))
				}
			}
			return &NotReadyError{Last: notReady}
		case <-tick.C:
		}
	}
}

// probe returns "" for a 200 answer, else what happened.
func probe(ctx context.Context, hc *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := hc.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) && uerr.Unwrap() != nil {
			return uerr.Unwrap().Error()
		}
		return err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return resp.Status
	}
	return ""
}
