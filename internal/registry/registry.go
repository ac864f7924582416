// Package registry reads from OCI registries: it resolves a tag to the digest of the manifest the registry
// serves, so that a release names an exact image.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Login is a credential for one registry. The zero Login is anonymous.
type Login struct {
	Username string
	Password string
}

// ErrNotFound is wrapped by the error of a reference the registry does not hold (no such tag, digest or
// repository).
var ErrNotFound = errors.New("not found in the registry")

// Digest returns the manifest digest ("sha256:...") the registry serves for ref, e.g. "127.0.0.1:5000/app:1.2"
// or a reference by digest, which it checks exists. It uses HTTP for loopback registries and HTTPS otherwise,
// with the first login given, else anonymously. A reference the registry does not hold is an error that wraps
// ErrNotFound. It only reads, so it is safe to retry.
func Digest(ctx context.Context, ref string, login ...Login) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("registry: reference %q: %w", ref, err)
	}
	opts := []remote.Option{remote.WithContext(ctx)}
	if len(login) > 0 && login[0].Username != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: login[0].Username, Password: login[0].Password}))
	}
	desc, err := remote.Head(r, opts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return "", fmt.Errorf("registry: resolve %s: %w", ref, ErrNotFound)
		}
		return "", fmt.Errorf("registry: resolve %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// Pinned returns ref's repository with the digest the registry serves for ref: "<repo>@sha256:...". It logs
// in as Digest does.
func Pinned(ctx context.Context, ref string, login ...Login) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("registry: reference %q: %w", ref, err)
	}
	d, err := Digest(ctx, ref, login...)
	if err != nil {
		return "", err
	}
	return r.Context().Name() + "@" + d, nil
}

// Host returns the registry host of ref as Ferry compares it with a worker's configured registries:
// "127.0.0.1:5000", or "index.docker.io" for a reference without one.
func Host(ref string) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("registry: reference %q: %w", ref, err)
	}
	return r.Context().RegistryStr(), nil
}

// SameHost reports whether address, a registry as a configuration names it ("registry.example.com",
// "docker.io"), is host.
func SameHost(address, host string) bool {
	reg, err := name.NewRegistry(address)
	return err == nil && reg.RegistryStr() == host
}
