package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/router"
)

func TestRouterRefusesBadFlags(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", nil, "the admin API needs a token"},
		{"insecure off loopback", []string{"--insecure-admin", "--admin", "0.0.0.0:0"}, `--insecure-admin needs a loopback --admin address, not "0.0.0.0:0"`},
		{"insecure on every interface", []string{"--insecure-admin", "--admin", ":0"}, "--insecure-admin needs a loopback"},
		{"token and insecure", []string{"--insecure-admin", "--admin-token", "t"}, "not both"},
		{"argument", []string{"--admin-token", "t", "extra"}, `unexpected argument "extra"`},
		{"bad state", []string{"--admin-token", "t", "--state", writeFile(t, "router.json", "{")}, "load state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := ferry(t, append([]string{"router", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, tc.args...)...)
			if code == exitOK || !strings.Contains(stderr, tc.want) {
				t.Errorf("got %d %q, want an error with %q", code, stderr, tc.want)
			}
			if tc.name != "bad state" && code != exitRejected {
				t.Errorf("got exit %d, want %d", code, exitRejected)
			}
		})
	}
}

// TestRouterServes runs `ferry router` in-process, sets a route through the admin API, sends a request
// through it, stops it, and finds the route again in the state file.
func TestRouterServes(t *testing.T) {
	clearEnv(t)
	t.Setenv("FERRY_ROUTER_TOKEN", "tok")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "hello from %s", req.Header.Get(router.HeaderVersion))
	}))
	defer backend.Close()
	state := filepath.Join(t.TempDir(), "router.json")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"ferry", "router", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state", state, "-o", "json"}, pw, &stderr)
		pw.Close()
	}()
	var doc routerDoc
	if err := json.NewDecoder(pr).Decode(&doc); err != nil {
		t.Fatalf("router document: %v (stderr %q)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)

	c := &router.Client{BaseURL: doc.Admin, Token: "tok"}
	routing := router.Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []router.Track{
		{Name: "stable", Version: "2.0.0", Weight: 100, Backends: []router.Backend{{URL: backend.URL}}},
	}}
	if _, err := c.SetWeights(ctx, routing); err != nil {
		t.Fatalf("SetWeights: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, doc.Traffic+"/", nil)
	req.Host = "shop.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello from 2.0.0" {
		t.Errorf("through the router: got %d %q, want 200 %q", resp.StatusCode, body, "hello from 2.0.0")
	}
	if _, err := (&router.Client{BaseURL: doc.Admin}).Weights(ctx, "shop", "prod"); err == nil {
		t.Error("admin API without the token: got an answer, want 401")
	}

	cancel()
	if code := <-exit; code != exitOK {
		t.Errorf("stopped router: got exit %d (stderr %q), want 0", code, stderr.String())
	}
	b, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(b), backend.URL) {
		t.Errorf("state file: got %q %v, want the route", b, err)
	}
}
