// Package vault reads secrets from HashiCorp Vault's KV version 2 engine for the worker. It logs in with a
// token or with AppRole, and keeps its token alive with the api's lifetime watcher.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	vaultapi "github.com/hashicorp/vault/api"
)

// Config says where Vault is and how the worker logs in: with Token, or else with AppRole (RoleID and
// SecretID). It holds credentials: never log or print it.
type Config struct {
	// Address is Vault's URL: https://vault.example.com:8200.
	Address string
	// Token is a Vault token. When it is renewable, the client renews it for as long as Vault allows.
	Token string
	// RoleID and SecretID log in through the AppRole auth method mounted at AppRoleMount (default "approle").
	RoleID, SecretID string
	AppRoleMount     string
	// Logger receives renewal and login records (never a token or a secret). Default slog.Default().
	Logger *slog.Logger
}

// Client reads KV v2 secrets. It logs in on first use, not when it is made, so that a worker starts while Vault
// is down; a read then fails, and Temporal retries the activity. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *vaultapi.Client
	log *slog.Logger

	mu       sync.Mutex
	loggedIn bool
	stop     chan struct{} // closes the running watcher's loop
}

// New returns a client for cfg. It checks the configuration only; it does not contact Vault.
func New(cfg Config) (*Client, error) {
	if cfg.Address == "" {
		return nil, errors.New("vault: no address")
	}
	if cfg.Token == "" && (cfg.RoleID == "" || cfg.SecretID == "") {
		return nil, errors.New("vault: no credentials: set a token, or an AppRole role_id and secret_id")
	}
	if cfg.AppRoleMount == "" {
		cfg.AppRoleMount = "approle"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ac := vaultapi.DefaultConfig()
	ac.Address = cfg.Address
	if ac.Error != nil {
		return nil, fmt.Errorf("vault: %w", ac.Error)
	}
	// Temporal retries a failed activity; retrying inside it as well would only hold the activity up.
	ac.MaxRetries = 0
	api, err := vaultapi.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	// NewClient reads VAULT_TOKEN and friends from the environment; the worker's configuration decides alone.
	api.ClearToken()
	api.ClearNamespace()
	return &Client{cfg: cfg, api: api, log: cfg.Logger}, nil
}

// ReadSecret returns the data of the latest version of the KV v2 secret at path under mount, each value as a
// string (JSON for a value that is not a string). found is false when there is no such secret, or its latest
// version is deleted or destroyed. Any other failure is an error, which never holds a secret value.
func (c *Client) ReadSecret(ctx context.Context, mount, path string) (data map[string]string, found bool, err error) {
	if err := c.login(ctx); err != nil {
		return nil, false, err
	}
	s, err := c.api.KVv2(mount).Get(ctx, path)
	if errors.Is(err, vaultapi.ErrSecretNotFound) {
		return nil, false, nil
	}
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
			// The token may have expired under us: log in again on the next attempt.
			c.logout()
		}
		return nil, false, fmt.Errorf("vault: read %s/%s: %w", mount, path, err)
	}
	if s == nil || s.Data == nil {
		return nil, false, nil
	}
	data = make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		if str, ok := v.(string); ok {
			data[k] = str
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false, fmt.Errorf("vault: read %s/%s: key %s: %w", mount, path, k, err)
		}
		data[k] = string(b)
	}
	return data, true, nil
}

// Close stops renewing the token. The client must not be used afterwards.
func (c *Client) Close() {
	c.logout()
}

// login makes sure the client holds a live token and a watcher that renews it.
func (c *Client) login(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loggedIn {
		return nil
	}
	var auth *vaultapi.Secret
	var err error
	if c.cfg.Token != "" {
		c.api.SetToken(c.cfg.Token)
		auth, err = c.tokenSecret(ctx)
	} else {
		auth, err = c.approle(ctx)
	}
	if err != nil {
		return err
	}
	c.loggedIn = true
	if auth != nil && auth.Auth != nil && auth.Auth.Renewable {
		if err := c.watch(auth); err != nil {
			c.log.Warn("vault: token renewal not started", "error", err)
		}
	}
	return nil
}

// approle logs in with the AppRole credentials and returns the login's auth.
func (c *Client) approle(ctx context.Context) (*vaultapi.Secret, error) {
	c.api.ClearToken()
	s, err := c.api.Logical().WriteWithContext(ctx, "auth/"+c.cfg.AppRoleMount+"/login", map[string]any{
		"role_id": c.cfg.RoleID, "secret_id": c.cfg.SecretID,
	})
	if err != nil {
		return nil, fmt.Errorf("vault: approle login at auth/%s: %w", c.cfg.AppRoleMount, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault: approle login at auth/%s returned no token", c.cfg.AppRoleMount)
	}
	c.api.SetToken(s.Auth.ClientToken)
	c.log.Info("vault: logged in with approle", "mount", c.cfg.AppRoleMount, "ttl", s.Auth.LeaseDuration, "renewable", s.Auth.Renewable)
	return s, nil
}

// tokenSecret describes the configured token as a login would, for the watcher: a renewable token is renewed
// once now, which returns its auth; one that is not renewable needs no watcher.
func (c *Client) tokenSecret(ctx context.Context) (*vaultapi.Secret, error) {
	self, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault: look up the worker's token: %w", err)
	}
	renewable, _ := self.TokenIsRenewable()
	if !renewable {
		return nil, nil
	}
	s, err := c.api.Auth().Token().RenewSelfWithContext(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("vault: renew the worker's token: %w", err)
	}
	return s, nil
}

// watch renews the token in the background with a lifetime watcher until Vault refuses or the token reaches its
// maximum TTL; then the next read logs in again (AppRole) or tries the token again.
func (c *Client) watch(auth *vaultapi.Secret) error {
	w, err := c.api.NewLifetimeWatcher(&vaultapi.LifetimeWatcherInput{Secret: auth})
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	c.stop = stop
	go w.Start()
	go func() {
		defer w.Stop()
		for {
			select {
			case <-stop:
				return
			case r := <-w.RenewCh():
				c.log.Debug("vault: token renewed", "ttl", r.Secret.Auth.LeaseDuration)
			case err := <-w.DoneCh():
				c.log.Warn("vault: token renewal stopped; the next read logs in again", "error", err)
				c.mu.Lock()
				if c.stop == stop {
					c.loggedIn, c.stop = false, nil
				}
				c.mu.Unlock()
				return
			}
		}
	}()
	return nil
}

// logout forgets the token's state and stops its watcher.
func (c *Client) logout() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loggedIn = false
	if c.stop != nil {
		close(c.stop)
		c.stop = nil
	}
}
