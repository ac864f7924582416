package worker

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/registry"
	"github.com/ferryhq/ferry/internal/spec"
)

// engines maps a Docker host name to a new client of the engine that the worker's endpoints give it (see
// dockerEndpoints, which always has "local"). An empty name means "local". A name the worker does not know is
// an error that lists the names it does.
func engines(endpoints map[string]docker.Endpoint) func(string) (activities.ImageEngine, error) {
	return func(name string) (activities.ImageEngine, error) {
		e, ok := endpoints[cmp.Or(name, spec.DefaultDockerHost)]
		if !ok {
			return nil, fmt.Errorf("no such docker host in the worker configuration (docker.hosts has: %v)", slices.Sorted(maps.Keys(endpoints)))
		}
		return docker.Connect(e)
	}
}

// logins finds the credential of a registry host among the configured registries, resolving its password
// reference when asked, so that a rotated secret is read afresh. A host no registry names gets the anonymous
// login. lookupEnv resolves env: references; nil resolves none.
func logins(regs map[string]Registry, lookupEnv func(string) (string, bool)) func(string) (registry.Login, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	return func(host string) (registry.Login, error) {
		names := slices.Sorted(maps.Keys(regs))
		for _, name := range names {
			r := regs[name]
			if !registry.SameHost(r.Address, host) || r.Username == "" {
				continue
			}
			pw, err := r.Password.Resolve(lookupEnv, os.ReadFile)
			if err != nil {
				return registry.Login{}, fmt.Errorf("registries.%s.password: %w", name, err)
			}
			return registry.Login{Username: r.Username, Password: pw.Reveal()}, nil
		}
		return registry.Login{}, nil
	}
}
