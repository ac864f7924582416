package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
)

// contractOrderChange is the GetVersion change ID under which a Contract workflow lets its contract run only
// once it has proved that no environment runs a version older than the completing one (see oldGone): it
// observes every track and container (the platform's Observe, not its current version), and where two
// versions are not both semantic versions it compares commit times, the running version's from its
// environment lock. A version it cannot order keeps the contract waiting, and its status says why. Asked once
// per run, at its start.
const contractOrderChange = "contract-proves-order"

// contractBackfillChange is the GetVersion change ID under which a Contract workflow of a migration with a
// backfill lets its contract run only once every environment's database records the backfill finished (see
// backfilled). Asked once per run, at its start.
const contractBackfillChange = "contract-needs-finished-backfill"

// contractRenewChange is the GetVersion change ID under which a Contract run begun before contractOrderChange
// continues as new when it comes to check what runs, so that the new run proves the order and checks the
// backfill, rather than check the old way. Asked only by such runs, before each check.
const contractRenewChange = "contract-renews-to-prove-order"

// oldRules reports whether this run would check the old way but may continue as new to check the new way.
func (c *contract) oldRules(ctx workflow.Context) bool {
	return !c.proveOrder && workflow.GetVersion(ctx, contractRenewChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// check asks whether (b) no older version runs, then (e) the backfill finished, and says why not.
func (c *contract) check(ctx workflow.Context) (bool, string, error) {
	gone, why, err := c.oldGone(ctx)
	c.status.State.OldGone = gone && err == nil
	if !c.status.State.OldGone || !c.needsBackfill() {
		return c.status.State.OldGone, why, err
	}
	done, why, err := c.backfilled(ctx)
	c.status.State.BackfillDone = done && err == nil
	return c.status.State.BackfillDone, why, err
}

// needsBackfill reports whether the contract waits for the migration's backfill to be recorded finished.
func (c *contract) needsBackfill() bool {
	return c.checkBackfill && c.in.Migration.Backfill != nil
}

// recordService is the service that keys the contract's record in ferry.migrations: none before
// migrationServiceChange.
func (c *contract) recordService() string {
	if c.perService {
		return c.in.Service
	}
	return ""
}

// oldGone reports whether no environment runs a version older than CompletedBy. Since contractOrderChange it
// observes every environment (Observe: every track's containers, whatever their state, and the versions
// the router sends traffic to) and passes only when it can prove each version there no older: by semantic
// version when both are one, else by commit times, CompletedBy's from its release and the other's from the
// environment lock (its stable version, or the version of the release that holds it). "Cannot tell" waits.
func (c *contract) oldGone(ctx workflow.Context) (bool, string, error) {
	if !c.proveOrder {
		return c.oldGoneByCurrent(ctx)
	}
	if !c.in.Platform.TellsCurrent() {
		return false, "the platform cannot say what runs (platform.exec.current is not set)", nil
	}
	for _, env := range c.in.Environments {
		req := activities.PlatformRequest{Kind: c.in.Platform.Kind(), Platform: c.in.Platform,
			Vars: activities.TemplateVars{Service: c.in.Service, Env: env, Version: c.status.State.CompletedBy, Track: TrackStable}}
		var obs activities.Observation
		opts := platformOptions(ctx, c.in.Platform, "observe "+env)
		if err := workflow.ExecuteActivity(opts, platformActs.Observe, req).Get(ctx, &obs); err != nil {
			return false, "", fmt.Errorf("ask what runs in %s: %s", env, errorMessage(err))
		}
		if !obs.Known {
			return false, "the platform cannot say what runs in " + env, nil
		}
		versions, unknown := runningVersions(obs)
		if unknown != "" {
			return false, fmt.Sprintf("cannot prove that nothing older than %s runs in %s: %s", c.status.State.CompletedBy, env, unknown), nil
		}
		var lock *activities.DeployedVersions
		for _, v := range versions {
			if why, err := c.olderOrUnproved(ctx, env, v, &lock); why != "" || err != nil {
				return false, why, err
			}
		}
	}
	return true, "", nil
}

// runningVersions lists the versions an observation shows, sorted: every container of every track, whatever
// its state (a stopped container may start again), and every version the router sends traffic to. unknown
// says what runs whose version the platform cannot tell, "" when nothing does.
func runningVersions(obs activities.Observation) (versions []string, unknown string) {
	add := func(v string) {
		if !slices.Contains(versions, v) {
			versions = append(versions, v)
		}
	}
	var unlabelled []string
	for _, t := range obs.Tracks {
		for _, ct := range t.Containers {
			if ct.Version == "" {
				unlabelled = append(unlabelled, ct.Name)
				continue
			}
			add(ct.Version)
		}
	}
	var blind float64
	for _, s := range obs.Serving {
		if s.Version == "" {
			blind += s.Percent
			continue
		}
		add(s.Version)
	}
	slices.Sort(versions)
	switch {
	case len(unlabelled) > 0:
		unknown = "the platform does not know the version of container " + strings.Join(unlabelled, ", ")
	case blind > 0:
		unknown = fmt.Sprintf("%g %% of its traffic goes to backends whose version the platform cannot tell", blind)
	}
	return versions, unknown
}

// olderOrUnproved says why version v, which runs in env, may be older than CompletedBy: it is, or nothing
// proves it is not. "" means it is proved no older. It asks env's lock for commit times only when the versions
// are not both semantic versions, once per environment (lock caches the answer).
func (c *contract) olderOrUnproved(ctx workflow.Context, env, v string, lock **activities.DeployedVersions) (string, error) {
	st := c.status.State
	if v == st.CompletedBy {
		return "", nil
	}
	a, aok := parseSemver(v)
	b, bok := parseSemver(st.CompletedBy)
	if aok && bok {
		if a.compare(b) < 0 {
			return fmt.Sprintf("%s still runs %s, older than %s (by semantic version)", env, v, st.CompletedBy), nil
		}
		return "", nil
	}
	cannot := func(why string) string {
		return fmt.Sprintf("cannot prove that %s, which runs in %s, is not older than %s: they are not both semantic "+
			"versions, and %s", v, env, st.CompletedBy, why)
	}
	if st.CommitTime.IsZero() {
		return cannot(fmt.Sprintf("the release of %s gave no commit time (ferry start --commit-time)", st.CompletedBy)), nil
	}
	if *lock == nil {
		var got activities.DeployedVersions
		opts := withOptions(ctx, "read the lock of "+env, time.Minute, 0, probeRetry)
		in := activities.DeployedVersionsInput{WorkflowID: EnvLockWorkflowID(c.in.Service, env), Query: QueryLock}
		if err := workflow.ExecuteActivity(opts, temporalActs.DeployedVersions, in).Get(ctx, &got); err != nil {
			return "", fmt.Errorf("read the environment lock of %s: %s", env, errorMessage(err))
		}
		*lock = &got
	}
	commit := commitTimeOf(**lock, v)
	switch {
	case commit.IsZero():
		return cannot(fmt.Sprintf("the environment lock of %s records no commit time for %s", env, v)), nil
	case commit.Before(st.CommitTime):
		return fmt.Sprintf("%s still runs %s, committed %s, before %s's %s", env, v, commit.UTC().Format(time.RFC3339),
			st.CompletedBy, st.CommitTime.UTC().Format(time.RFC3339)), nil
	}
	return "", nil
}

// commitTimeOf is the commit time a lock records for version v: as its stable version, or as its holder's.
func commitTimeOf(lock activities.DeployedVersions, v string) time.Time {
	for _, d := range []*activities.DeployedVersion{lock.Stable, lock.Holder} {
		if d != nil && d.Version == v && !d.CommitTime.IsZero() {
			return d.CommitTime
		}
	}
	return time.Time{}
}

// backfilled reports whether every environment's database records the migration's backfill finished
// (ferry.migrations, through the Backfilled activity): the database is the record of what was copied, and a
// release that failed, or was aborted, during the backfill leaves it unfinished there. The contract refuses
// until a later release that requires the migration has run the rest.
func (c *contract) backfilled(ctx workflow.Context) (bool, string, error) {
	m := c.in.Migration
	for _, env := range c.in.Environments {
		req := activities.RecordsRequest{Env: env, Database: m.Database, Migration: m.Name, Service: c.in.Service}
		opts := withOptions(ctx, "read the backfill record of "+m.Name+" in "+env, time.Minute, 0, probeRetry)
		var rec activities.BackfillRecord
		if err := workflow.ExecuteActivity(opts, migrationActs.Backfilled, req).Get(ctx, &rec); err != nil {
			return false, "", fmt.Errorf("read the backfill record of %s in %s: %s", m.Name, env, errorMessage(err))
		}
		if rec.Done {
			continue
		}
		at := "no batch of it is recorded"
		if rec.Cursor != "" {
			at = "stopped at key " + rec.Cursor
		}
		return false, fmt.Sprintf("contract %s refused: its backfill %s (table %s) did not finish in %s (%s); a release "+
			"that requires %s runs the rest", m.Name, m.Name, m.Backfill.Table, env, at, m.Name), nil
	}
	return true, "", nil
}
