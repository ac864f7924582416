// Package vaulttest runs a real `vault server -dev` for tests: in memory, unsealed, with a KV v2 engine at
// secret/ and a known root token, on a free loopback port.
//
// Vault is not packaged by Debian; the binary is built from source by the tools/vault module, and tests find it
// through the environment variable FERRY_VAULT_BIN (.ci/run builds it and sets it), or else as `vault` on PATH.
// Without it, Server skips the test with the reason, or fails it when CI is "true".
//
// One server serves a whole test package: the first Server call starts it, the later ones reuse it, and the
// package's TestMain stops it with Stop.
package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// RootToken is the dev server's root token.
const RootToken = "ferry-test-root"

// BinEnv names the environment variable that holds the path of the vault binary.
const BinEnv = "FERRY_VAULT_BIN"

// Vault is a running dev server.
type Vault struct {
	// Addr is its URL, http://127.0.0.1:PORT.
	Addr string
	// Root is a client with the root token.
	Root *vaultapi.Client
	cmd  *exec.Cmd
	done chan struct{}
}

var (
	mu      sync.Mutex
	shared  *Vault
	started error
)

// Bin returns the path of the vault binary: $FERRY_VAULT_BIN, or vault on PATH.
func Bin() (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinEnv, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("vault")
	if err != nil {
		return "", fmt.Errorf("no vault binary: set %s (build it with `cd tools/vault && go build -o DIR/vault github.com/hashicorp/vault`) or put vault on PATH", BinEnv)
	}
	return p, nil
}

// Server returns the package's dev server, starting it on the first call. Without a vault binary it skips t, or
// fails it under CI=true.
func Server(t testing.TB) *Vault {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && started == nil {
		shared, started = start()
	}
	if started != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("vault: %v", started)
		}
		t.Skipf("vault: %v", started)
	}
	return shared
}

// Stop stops the package's dev server, if one started. TestMain calls it after m.Run.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		_ = shared.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-shared.done:
		case <-time.After(10 * time.Second):
			_ = shared.cmd.Process.Kill()
			<-shared.done
		}
		shared = nil
	}
}

func start() (*Vault, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+RootToken, "-dev-listen-address="+listen, "-dev-no-store-token")
	// The server must not pick up a developer's own Vault settings.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	log, err := os.CreateTemp("", "vaulttest-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	v := &Vault{Addr: "http://" + listen, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = log.Close(); close(v.done) }()

	cfg := vaultapi.DefaultConfig()
	cfg.Address = v.Addr
	if v.Root, err = vaultapi.NewClient(cfg); err != nil {
		return nil, err
	}
	v.Root.SetToken(RootToken)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		h, err := v.Root.Sys().HealthWithContext(ctx)
		if err == nil && h.Initialized && !h.Sealed {
			break
		}
		select {
		case <-v.done:
			out, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("vault server -dev exited: %s", out)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, errors.New("vault server -dev did not become healthy within 60s")
		case <-time.After(100 * time.Millisecond):
		}
	}
	_ = os.Remove(log.Name())
	return v, nil
}

// Put writes data as a new version of the KV v2 secret at path under the dev server's secret/ mount.
func (v *Vault) Put(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := v.Root.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("vault: put secret/%s: %v", path, err)
	}
}

// Token creates a token with policies, a TTL and renewability, and returns it.
func (v *Vault) Token(t testing.TB, ttl time.Duration, renewable bool, policies ...string) string {
	t.Helper()
	s, err := v.Root.Auth().Token().Create(&vaultapi.TokenCreateRequest{
		Policies: policies, TTL: ttl.String(), Renewable: &renewable, NoParent: true, ExplicitMaxTTL: "1h",
	})
	if err != nil {
		t.Fatalf("vault: create token: %v", err)
	}
	return s.Auth.ClientToken
}

// ReadPolicy creates a policy that may read every KV v2 secret under secret/, and returns its name.
func (v *Vault) ReadPolicy(t testing.TB) string {
	t.Helper()
	const name = "ferry-read"
	if err := v.Root.Sys().PutPolicy(name, `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		t.Fatalf("vault: put policy: %v", err)
	}
	return name
}

// AppRole enables the AppRole auth method (once), creates role with policies and returns its role_id and a
// new secret_id.
func (v *Vault) AppRole(t testing.TB, role string, policies ...string) (roleID, secretID string) {
	t.Helper()
	auths, err := v.Root.Sys().ListAuth()
	if err != nil {
		t.Fatalf("vault: list auth: %v", err)
	}
	if _, ok := auths["approle/"]; !ok {
		if err := v.Root.Sys().EnableAuthWithOptions("approle", &vaultapi.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatalf("vault: enable approle: %v", err)
		}
	}
	l := v.Root.Logical()
	if _, err := l.Write("auth/approle/role/"+role, map[string]any{"token_policies": policies, "token_ttl": "1h"}); err != nil {
		t.Fatalf("vault: create role: %v", err)
	}
	s, err := l.Read("auth/approle/role/" + role + "/role-id")
	if err != nil {
		t.Fatalf("vault: read role id: %v", err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s, err = l.Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatalf("vault: create secret id: %v", err)
	}
	secretID, _ = s.Data["secret_id"].(string)
	return roleID, secretID
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
