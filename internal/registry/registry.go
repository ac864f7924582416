// Package registry reads from OCI registries: it resolves a tag to the digest of the manifest the registry
// serves, so that a release names an exact image.
package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Digest returns the manifest digest ("sha256:...") the registry serves for ref, e.g. "127.0.0.1:5000/app:1.2"
// or a reference by digest, which it checks exists. It uses HTTP for loopback registries and HTTPS otherwise,
// anonymously. It only reads, so it is safe to retry.
func Digest(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("registry: reference %q: %w", ref, err)
	}
	desc, err := remote.Head(r, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("registry: resolve %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

// Pinned returns ref's repository with the digest the registry serves for ref: "<repo>@sha256:...".
func Pinned(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("registry: reference %q: %w", ref, err)
	}
	d, err := Digest(ctx, ref)
	if err != nil {
		return "", err
	}
	return r.Context().Name() + "@" + d, nil
}
