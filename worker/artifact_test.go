package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/registry"
)

// The worker logs in to an image's registry with the configured entry of that host, reading the password
// reference when asked; other registries get the anonymous login.
func TestLogins(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REG_PW": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	login := logins(map[string]Registry{
		"main":   {Address: "registry.example.com", Username: "ci", Password: SecretRef("env:REG_PW")},
		"local":  {Address: "127.0.0.1:5000", Username: "dev", Password: SecretRef("file:" + filepath.Join(dir, "pw"))},
		"broken": {Address: "broken.example.com", Username: "x", Password: SecretRef("env:UNSET_PW")},
	}, lookup)
	for _, tt := range []struct {
		host string
		want registry.Login
	}{
		{"registry.example.com", registry.Login{Username: "ci", Password: "from-env"}},
		{"127.0.0.1:5000", registry.Login{Username: "dev", Password: "from-file"}},
		{"other.example.com", registry.Login{}},
	} {
		got, err := login(tt.host)
		if err != nil || got != tt.want {
			t.Errorf("login(%s): got %+v, %v; want %+v", tt.host, got, err, tt.want)
		}
	}
	env["REG_PW"] = "rotated"
	if got, _ := login("registry.example.com"); got.Password != "rotated" {
		t.Errorf("got password %q after rotation, want rotated", got.Password)
	}
	if _, err := login("broken.example.com"); err == nil || !strings.Contains(err.Error(), "registries.broken.password") {
		t.Errorf("got %v, want an error naming registries.broken.password", err)
	}
}

// A build names a configured Docker host or none; any other name is refused with the names there are.
func TestEngines(t *testing.T) {
	engine := engines(map[string]string{"local": "unix:///var/run/docker.sock", "remote": "tcp://127.0.0.1:2375"})
	for _, name := range []string{"", "local", "remote"} {
		e, err := engine(name)
		if err != nil {
			t.Errorf("engine(%q): %v", name, err)
			continue
		}
		e.Close()
	}
	if _, err := engine("elsewhere"); err == nil || !strings.Contains(err.Error(), "[local remote]") {
		t.Errorf("got %v, want an error listing local and remote", err)
	}
}
