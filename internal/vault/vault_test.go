package vault_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/vault"
	"github.com/ferryhq/ferry/internal/vaulttest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	vaulttest.Stop()
	os.Exit(code)
}

func TestReadSecret(t *testing.T) {
	v := vaulttest.Server(t)
	v.Put(t, "app/staging", map[string]any{"password": "pw-staging-1", "port": 5432})
	c, err := vault.New(vault.Config{Address: v.Addr, Token: v.Token(t, time.Hour, true, v.ReadPolicy(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	data, found, err := c.ReadSecret(ctx, "secret", "app/staging")
	if err != nil || !found {
		t.Fatalf("got found %v, error %v, want the secret", found, err)
	}
	if data["password"] != "pw-staging-1" || data["port"] != "5432" {
		t.Errorf("got %d keys without the written values", len(data))
	}
	if _, found, err := c.ReadSecret(ctx, "secret", "app/nowhere"); err != nil || found {
		t.Errorf("got found %v, error %v for a missing secret, want not found and no error", found, err)
	}
	// A deleted latest version is gone, too.
	v.Put(t, "app/deleted", map[string]any{"k": "v"})
	if err := v.Root.KVv2("secret").Delete(ctx, "app/deleted"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.ReadSecret(ctx, "secret", "app/deleted"); err != nil || found {
		t.Errorf("got found %v, error %v for a deleted secret, want not found and no error", found, err)
	}
}

func TestReadSecretRefused(t *testing.T) {
	v := vaulttest.Server(t)
	v.Put(t, "app/refused", map[string]any{"k": "v"})
	c, err := vault.New(vault.Config{Address: v.Addr, Token: v.Token(t, time.Hour, true, "default")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.ReadSecret(context.Background(), "secret", "app/refused"); err == nil {
		t.Error("got no error reading with a token whose policy does not allow it, want one")
	}
}

func TestAppRole(t *testing.T) {
	v := vaulttest.Server(t)
	v.Put(t, "app/approle", map[string]any{"k": "from-approle"})
	roleID, secretID := v.AppRole(t, "ferry-worker", v.ReadPolicy(t))
	c, err := vault.New(vault.Config{Address: v.Addr, RoleID: roleID, SecretID: secretID})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, found, err := c.ReadSecret(context.Background(), "secret", "app/approle")
	if err != nil || !found || data["k"] != "from-approle" {
		t.Fatalf("got %v, found %v, error %v, want the secret", len(data), found, err)
	}

	bad, err := vault.New(vault.Config{Address: v.Addr, RoleID: roleID, SecretID: "not-the-secret-id"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, _, err := bad.ReadSecret(context.Background(), "secret", "app/approle"); err == nil {
		t.Error("got no error with a wrong secret_id, want the login refused")
	}
}

// readFor reads the secret every 250ms for d and returns the first error.
func readFor(c *vault.Client, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, _, err := c.ReadSecret(context.Background(), "secret", "app/ttl"); err != nil {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

// A token whose TTL is far shorter than the work it does stays valid while the lifetime watcher renews it; the
// same token left unrenewed expires, which shows that the renewal is what kept it alive.
func TestTokenRenewed(t *testing.T) {
	v := vaulttest.Server(t)
	v.Put(t, "app/ttl", map[string]any{"k": "v"})
	policy := v.ReadPolicy(t)
	const ttl = 2 * time.Second

	c, err := vault.New(vault.Config{Address: v.Addr, Token: v.Token(t, ttl, true, policy)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := readFor(c, 4*ttl); err != nil {
		t.Errorf("got %v with a renewable token, want it renewed", err)
	}

	unrenewed, err := vault.New(vault.Config{Address: v.Addr, Token: v.Token(t, ttl, false, policy)})
	if err != nil {
		t.Fatal(err)
	}
	defer unrenewed.Close()
	if err := readFor(unrenewed, 4*ttl); err == nil {
		t.Error("got no error with a token that cannot be renewed, want it expired")
	}
}

func TestNewNeedsCredentials(t *testing.T) {
	for name, cfg := range map[string]vault.Config{
		"no address":     {Token: "t"},
		"no credentials": {Address: "http://127.0.0.1:1"},
		"half approle":   {Address: "http://127.0.0.1:1", RoleID: "r"},
	} {
		if _, err := vault.New(cfg); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}
