package starter

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/workflows"
)

// Intent says which running release a decision without a version is meant for. Several releases of a service
// can run at once (one deploys while a newer one waits for the lock), and the newest is often not the one meant.
type Intent struct {
	// Decision is the decision's name (workflows.Update*), for messages.
	Decision string
	// ApprovalEnv, for approve, means the release that waits for approval at that environment's gate. Empty means
	// the release that deploys: it holds an environment's lock and is past the gate.
	ApprovalEnv string
}

// means reports whether st is the release the intent is meant for.
func (in Intent) means(st workflows.Status) bool {
	if st.State != workflows.StateRunning {
		return false
	}
	if in.ApprovalEnv != "" {
		// A gate also waits for its deploy window; only an approval wait ("approval by alice (0/1)") takes one.
		return st.Stage == workflows.StageGate && st.Env == in.ApprovalEnv && strings.HasPrefix(st.Waiting, "approval")
	}
	return deploying(st)
}

// what is the intent in words, after "is" or "are": "deploying", "waiting for approval in production".
func (in Intent) what() string {
	if in.ApprovalEnv != "" {
		return "waiting for approval in " + in.ApprovalEnv
	}
	return "deploying"
}

// deploying reports a running release that holds an environment's lock and is past its gate: deploying, shifting
// traffic, checking, verifying, promoting or rolling back. Only one release per environment can be there.
func deploying(st workflows.Status) bool {
	if st.State != workflows.StateRunning {
		return false
	}
	switch st.Stage {
	case "", workflows.StageBuild, workflows.StageLock, workflows.StageGate, workflows.StageDone:
		return false
	}
	return true
}

// rank orders running releases by how far they are: deploying, then at a gate, then waiting for a lock, then
// the rest.
func rank(st workflows.Status) int {
	switch {
	case deploying(st):
		return 0
	case st.Stage == workflows.StageGate:
		return 1
	case st.Stage == workflows.StageLock:
		return 2
	default:
		return 3
	}
}

// AmbiguousError is a decision without a version that no single running release matches: none of them, or
// more than one, is in the state the decision is meant for. Nothing was sent.
type AmbiguousError struct {
	Service string
	Intent  Intent
	// Releases are the statuses of every running release of Service, the deploying one first.
	Releases []workflows.Status
}

func (e *AmbiguousError) Error() string {
	n := 0
	for _, st := range e.Releases {
		if e.Intent.means(st) {
			n++
		}
	}
	if n == 0 {
		return fmt.Sprintf("%s: none of the %d running releases of %s is %s", e.Intent.Decision, len(e.Releases), e.Service, e.Intent.what())
	}
	return fmt.Sprintf("%s: %d running releases of %s are %s", e.Intent.Decision, n, e.Service, e.Intent.what())
}

// RunningRelease is one running release and its status.
type RunningRelease struct {
	Run    Run
	Status workflows.Status
}

// RunningReleases returns every running release of service with its status, the deploying one first, then those
// at a gate, those waiting for a lock, and the rest; newest first within each. It asks each release for its
// status, so it needs a worker: without one it returns a *NoWorkerError.
func RunningReleases(ctx context.Context, c client.Client, service string) ([]RunningRelease, error) {
	rows, err := list(ctx, c, filter{service: service, running: true}, 100)
	if err != nil {
		return nil, err
	}
	return statuses(ctx, c, rows)
}

// statuses queries the status of each row's release and orders them as RunningReleases does. A release that
// ended since the list was read is left out.
func statuses(ctx context.Context, c client.Client, rows []Row) ([]RunningRelease, error) {
	var out []RunningRelease
	for _, row := range rows {
		run := row.Run()
		st, err := StatusOf(ctx, c, run)
		if err != nil {
			return nil, err
		}
		if st.State != workflows.StateRunning {
			continue
		}
		out = append(out, RunningRelease{Run: run, Status: st})
	}
	slices.SortStableFunc(out, func(a, b RunningRelease) int {
		if d := rank(a.Status) - rank(b.Status); d != 0 {
			return d
		}
		return b.Status.StartedAt.Compare(a.Status.StartedAt)
	})
	return out, nil
}

// ResolveFor finds the release a decision is meant for: service at version, or with an empty version the running
// release that in means. When only one release of service runs, it is that one, whatever its state: the
// release's own validator then accepts or refuses the decision with its reason. When several run, exactly one
// must be in the state in means, else it returns an *AmbiguousError listing them all. With none running it
// returns a *NotFoundError.
func ResolveFor(ctx context.Context, c client.Client, service, version string, in Intent) (Run, error) {
	if version != "" {
		return ReleaseRun(service, version), nil
	}
	rows, err := list(ctx, c, filter{service: service, running: true}, 100)
	if err != nil {
		return Run{}, err
	}
	if len(rows) == 1 {
		// No status query: a decision for the only release needs no worker to be resolved.
		return rows[0].Run(), nil
	}
	running, err := statuses(ctx, c, rows)
	if err != nil {
		return Run{}, err
	}
	return choose(service, in, running)
}

// choose picks the release in means out of running, the running releases of service.
func choose(service string, in Intent, running []RunningRelease) (Run, error) {
	switch len(running) {
	case 0:
		return Run{}, &NotFoundError{Service: service, Running: true}
	case 1:
		return running[0].Run, nil
	}
	var meant []Run
	all := make([]workflows.Status, len(running))
	for i, r := range running {
		all[i] = r.Status
		if in.means(r.Status) {
			meant = append(meant, r.Run)
		}
	}
	if len(meant) == 1 {
		return meant[0], nil
	}
	return Run{}, &AmbiguousError{Service: service, Intent: in, Releases: all}
}
