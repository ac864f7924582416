package router

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkServeHTTP measures the router's own cost per request: choice, proxying to a loopback backend and
// metrics, without a client connection in front (go run ./bench/router measures end to end).
func BenchmarkServeHTTP(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	defer backend.Close()
	r, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	routing := Routing{Service: "shop", Env: "prod", Hosts: []string{"shop.test"}, Tracks: []Track{
		{Name: "stable", Version: "1", Weight: 90, Backends: []Backend{{URL: backend.URL}}},
		{Name: "canary", Version: "2", Weight: 10, Backends: []Backend{{URL: backend.URL + "/"}}},
	}}
	if _, err := r.Set(context.Background(), routing, SetOptions{}); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "http://shop.test/", nil)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("got %d, want 200", rec.Code)
			}
		}
	})
}
