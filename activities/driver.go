package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/internal/spec"
)

// Driver performs the platform operations of one kind of platform. The Platform activities choose a driver by
// the request's kind and call it; the workflow sees only the operations. Every method is called with the same
// request again when Temporal retries it, so each must be idempotent, and the driver's doc comment says how.
// A failure no retry can fix is a non-retryable ErrTypeInvalidSpec; a driver may add its own error types.
//
// A new platform is one file (or package) with a type that implements Driver, one member in spec.Platform and
// one registration line where the worker builds its Drivers.
type Driver interface {
	// Deploy starts the version's replica set on Vars.Track.
	Deploy(ctx context.Context, in PlatformRequest) error
	// Ready returns once the track's replicas are ready, or fails with ErrTypeReadinessTimeout.
	Ready(ctx context.Context, in PlatformRequest) error
	// SetWeight routes Vars.Weight percent of the service's traffic to Vars.Track, through the traffic router.
	SetWeight(ctx context.Context, in PlatformRequest) error
	// Promote makes the track's version the stable one.
	Promote(ctx context.Context, in PlatformRequest) error
	// Remove deletes a version's replica set from Vars.Track.
	Remove(ctx context.Context, in PlatformRequest) error
	// Rollback restores Vars.StableVersion on the stable track.
	Rollback(ctx context.Context, in PlatformRequest) error
	// Current says which version serves Vars.Env's stable track now, if the platform can tell.
	Current(ctx context.Context, in PlatformRequest) (CurrentResult, error)
}

// Drivers maps a platform kind (spec.Platform.Kind) to its driver. The worker builds it once, in one place.
type Drivers map[string]Driver

// Kinds lists the registered kinds in sorted order.
func (d Drivers) Kinds() []string {
	kinds := make([]string, 0, len(d))
	for k := range d {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// driver returns the driver for kind, or a non-retryable ErrTypeInvalidSpec failure that names the kind and
// the kinds this worker knows.
func (d Drivers) driver(kind string) (Driver, error) {
	if kind == "" {
		return nil, invalidSpec("the request names no platform kind (this worker knows: "+d.known()+")", nil)
	}
	if drv, ok := d[kind]; ok && drv != nil {
		return drv, nil
	}
	return nil, invalidSpec(fmt.Sprintf("platform kind %q is not known to this worker (it knows: %s)", kind, d.known()), nil)
}

func (d Drivers) known() string {
	if kinds := d.Kinds(); len(kinds) > 0 {
		return strings.Join(kinds, ", ")
	}
	return "none"
}

// PlatformRequest is the input of every platform activity: the platform-neutral coordinates in Vars, the kind
// of the platform and the spec's platform section, whose one set member is the driver's own configuration
// (platform.exec for the exec driver). The section is embedded, so its members travel at the top level of the
// payload ("exec"), where requests scheduled before Kind existed carried the exec section too. It holds names
// and references only, never endpoints or credentials: the worker maps those from its own configuration.
type PlatformRequest struct {
	// Kind names the driver. Empty (in a request scheduled before Kind existed) means the kind of the section
	// that is set.
	Kind string `json:"kind,omitempty"`
	// Digest is the release's pinned digest ("sha256:..."), recorded once before the first environment; empty
	// when the release pins none. Deploy refuses a Vars.Image that is not pinned to it.
	Digest string `json:"digest,omitempty"`
	spec.Platform
	Vars TemplateVars `json:"vars"`
	// Secrets are the environment's secret references (spec.Environment.Secrets): variable name to
	// "vault:..." reference, never a value. Deploy, Promote and Rollback resolve them into SecretEnv.
	Secrets map[string]string `json:"secrets,omitempty"`
	// SecretEnv holds the resolved secrets by variable name, set inside the worker by the Platform activity
	// right before it calls the driver. It is never serialised, so no value reaches workflow history; a driver
	// hands it to the platform as environment variables, never as arguments.
	SecretEnv map[string]string `json:"-"`
	// ExpectStable, on a SetWeight to weight 0 (a rollback), asks the driver to route only what runs
	// Vars.StableVersion (of Vars.StableImage's digest, when it is pinned) on the stable track, and to fail with
	// a non-retryable ErrTypeStableMismatch when nothing does, rather than route whatever runs there.
	ExpectStable bool `json:"expectStable,omitempty"`
	// Engine is the ID of the engine the environment is bound to, on platforms whose engines differ from worker
	// to worker (Docker): the driver refuses to act on another engine (ErrTypeEngineMismatch). Empty: not bound
	// (the exec platform, or a release begun before engines were bound).
	Engine string `json:"engine,omitempty"`
}

// ErrTypeStableMismatch is a rollback's routing that found the stable track not running the stable version.
const ErrTypeStableMismatch = "StableMismatch"

// kind is the request's driver kind: Kind, or else the kind of its platform section.
func (in PlatformRequest) kind() string {
	if in.Kind != "" {
		return in.Kind
	}
	return in.Platform.Kind()
}
