package docker

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func httpClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

func TestPushDigest(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, stream, want, err string
	}{
		{
			name: "ok",
			stream: `{"status":"The push refers to repository [127.0.0.1:5000/app]"}
{"status":"Pushed","progressDetail":{},"id":"a1b2c3"}
{"status":"1.0: digest: ` + d + ` size: 527"}
{"progressDetail":{},"aux":{"Tag":"1.0","Digest":"` + d + `","Size":527}}
`,
			want: d,
		},
		{
			name:   "error",
			stream: `{"status":"Preparing","id":"a1"}` + "\n" + `{"errorDetail":{"message":"connection refused"},"error":"connection refused"}` + "\n",
			err:    "connection refused",
		},
		{name: "no digest", stream: `{"status":"Pushed","id":"a1"}` + "\n", err: "no digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []string
			got, err := pushDigest(strings.NewReader(tt.stream), func(l string) { lines = append(lines, l) })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if len(lines) != 3 || lines[1] != "a1b2c3: Pushed" {
				t.Errorf("got lines %q", lines)
			}
		})
	}
}

func TestImageDigest(t *testing.T) {
	h := "sha256:" + strings.Repeat("ab", 32)
	for ref, want := range map[string]string{
		"127.0.0.1:5000/app@" + h: h,
		"app@" + h:                h,
		"127.0.0.1:5000/app:1.0":  "",
		"app@sha256:short":        "",
	} {
		got, err := imageDigest(ref)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("imageDigest(%q): got %q, %v; want %q", ref, got, err, want)
		}
	}
}

func TestTags(t *testing.T) {
	got := Tags("r/app", "1.2.3", "abc")
	if len(got) != 2 || got[0] != "r/app:1.2.3" || got[1] != "r/app:sha-abc" {
		t.Errorf("got %q", got)
	}
	if got := Tags("r/app", "1.2.3", ""); len(got) != 1 {
		t.Errorf("got %q, want one tag without a git sha", got)
	}
}
