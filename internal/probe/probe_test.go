package probe

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 2*MaxBody)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(big)
		case "/moved":
			http.Redirect(w, r, "/teapot", http.StatusFound)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte(r.Header.Get("User-Agent")))
		}
	}))
	defer srv.Close()
	c := New()

	resp, err := c.Get(context.Background(), srv.URL+"/big")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || len(resp.Body) != MaxBody {
		t.Errorf("got status %d and %d body bytes, want 200 and %d", resp.Status, len(resp.Body), MaxBody)
	}

	resp, err = c.Get(context.Background(), srv.URL+"/moved")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTeapot || string(resp.Body) != "ferry-probe" {
		t.Errorf("got status %d body %q, want the redirect followed to 418 %q", resp.Status, resp.Body, "ferry-probe")
	}
}

func TestGetConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = New().Get(context.Background(), "http://"+addr+"/healthz")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "/healthz") {
		t.Errorf("got error %v, want connection refused without the repeated URL", err)
	}
}
