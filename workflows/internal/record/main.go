// Command record re-records the workflow histories in testdata/histories that workflows' replay test
// replays. It runs each scenario on the embedded Temporal server with stand-in activities (replay never runs
// activities, so only their names and results matter) and real Updates. Run from the repository root:
//
//	go run ./workflows/internal/record
//
// With -only PREFIX it records only the release scenarios whose name starts with PREFIX, and leaves every other
// history as it is; -only engine records the releases on the Docker platform bound to an engine (engine-*), and
// -only expand-contract the histories of the expand-contract migration (migration-1.0.0, migration-1.1.0 and
// contract).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

const historyDir = "testdata/histories"

var only = flag.String("only", "", "record only the release scenarios whose name starts with this prefix")

func main() {
	flag.Parse()
	record()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "record: "+format+"\n", args...)
	os.Exit(1)
}

// recPlatform and recChecks stand in for the real activities while recording: replay never runs
// activities, so only their names and results matter. Checks fail for versions ending in "-bad" at 10 %.
type recPlatform struct {
	mu sync.Mutex
	// deployed is the version the last deploy started, by service and environment.
	deployed map[[2]string]string
	// serving is the version that serves all traffic, by service and environment, as Observe reports it.
	serving map[[2]string]string
}

// serve records what serves an environment after an operation.
func (p *recPlatform) serve(in activities.PlatformRequest, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if version != "" {
		p.serving[[2]string{in.Vars.Service, in.Vars.Env}] = version
	}
}

// Observe reports the version the operations so far left serving all traffic, or cannot tell where none did.
func (p *recPlatform) Observe(_ context.Context, in activities.PlatformRequest) (activities.Observation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.serving[[2]string{in.Vars.Service, in.Vars.Env}]
	if !ok {
		return activities.Observation{}, nil
	}
	return activities.Observation{Known: true, Serving: []activities.Share{{Version: v, Percent: 100}}}, nil
}

// Admit admits every release but those whose version ends in "-untrusted", which it refuses as the worker's
// policy would refuse a program outside its allowlist.
func (*recPlatform) Admit(_ context.Context, in activities.AdmitRequest) error {
	if strings.HasSuffix(in.Version, "-untrusted") {
		return temporal.NewNonRetryableApplicationError("the worker refuses this release: platform.exec.deploy[0]: program /bin/sh is not allowed",
			activities.ErrTypeInvalidSpec, nil)
	}
	return nil
}

// Deploy of a "-slow" version to production runs until it is cancelled, as a long command would.
func (p *recPlatform) Deploy(ctx context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
	p.mu.Lock()
	p.deployed[[2]string{in.Vars.Service, in.Vars.Env}] = in.Vars.Version
	p.mu.Unlock()
	if in.Vars.Track == "stable" {
		p.serve(in, in.Vars.Version)
	}
	if strings.HasSuffix(in.Vars.Version, "-slow") && in.Vars.Env == "production" {
		for ctx.Err() == nil {
			activity.RecordHeartbeat(ctx, nil)
			time.Sleep(100 * time.Millisecond)
		}
		return activities.PlatformResult{}, ctx.Err()
	}
	return activities.PlatformResult{Output: "deployed"}, nil
}
func (p *recPlatform) SetWeight(_ context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
	switch in.Vars.Weight {
	case 0:
		p.serve(in, in.Vars.StableVersion)
	case 100:
		p.serve(in, in.Vars.Version)
	}
	return activities.PlatformResult{Output: "weighted"}, nil
}

// Promote of a "-slowpromote" version takes 3 s, and is not cut short by a cancel.
func (p *recPlatform) Promote(_ context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
	if strings.HasSuffix(in.Vars.Version, "-slowpromote") {
		time.Sleep(3 * time.Second)
	}
	p.serve(in, in.Vars.Version)
	return activities.PlatformResult{Output: "promoted"}, nil
}
func (p *recPlatform) Rollback(_ context.Context, in activities.PlatformRequest) (activities.PlatformResult, error) {
	p.serve(in, in.Vars.StableVersion)
	return activities.PlatformResult{Output: "rolled back"}, nil
}
func (*recPlatform) Remove(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{Output: "removed"}, nil
}
func (*recPlatform) WaitReady(context.Context, activities.PlatformRequest) (activities.PlatformResult, error) {
	return activities.PlatformResult{Output: "ready"}, nil
}

// Current says the version the last deploy to the environment started serves there; where there was none,
// nothing for a service named ...-nothing-runs, and 0.9.0 for the others, as if Ferry had not deployed it.
func (p *recPlatform) Current(_ context.Context, in activities.PlatformRequest) (activities.CurrentResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.deployed[[2]string{in.Vars.Service, in.Vars.Env}]; ok {
		return activities.CurrentResult{Known: true, Version: v}, nil
	}
	if strings.HasSuffix(in.Vars.Service, "-nothing-runs") {
		return activities.CurrentResult{Known: true}, nil
	}
	return activities.CurrentResult{Known: true, Version: "0.9.0"}, nil
}

// recMigrations stands in for the migration activities: every expand and contract applies, and a backfill
// fills 1,000 rows at once, but that of a migration named slow-backfill in production, which stops at key 500
// only when it is cancelled. Every backfill is recorded finished.
type recMigrations struct{}

func (*recMigrations) Expand(context.Context, activities.MigrationRequest) (activities.ExpandResult, error) {
	return activities.ExpandResult{Checksum: "sha256:expand", Applied: true}, nil
}
func (*recMigrations) Backfill(ctx context.Context, in activities.BackfillRequest) (activities.BackfillProgress, error) {
	if in.Migration.Name == "slow-backfill" && in.Env == "production" {
		p := activities.BackfillProgress{Cursor: "500", Rows: 500, Total: 1000}
		for ctx.Err() == nil {
			activity.RecordHeartbeat(ctx, p)
			time.Sleep(100 * time.Millisecond)
		}
		return p, temporal.NewCanceledError(p)
	}
	return activities.BackfillProgress{Cursor: "1000", Rows: 1000, Total: 1000}, nil
}
func (*recMigrations) Backfilled(context.Context, activities.RecordsRequest) (activities.BackfillRecord, error) {
	return activities.BackfillRecord{Done: true, Cursor: "1000"}, nil
}
func (*recMigrations) Contract(context.Context, activities.MigrationRequest) (activities.ContractResult, error) {
	return activities.ContractResult{Checksum: "sha256:contract", Applied: true, Irreversible: true,
		Dropped: []string{"column users.legacy_flag"}}, nil
}

// ResolveConfig resolves nothing: the recorded specs name no secrets.
func (*recPlatform) ResolveConfig(_ context.Context, in activities.ConfigRequest) (activities.ConfigResult, error) {
	return activities.ConfigResult{Hash: "hmac-sha256:" + in.Env}, nil
}

// recMetrics measures every metric as 0.001, and 0.2 for versions ending in "-regressed" at 10 %. Versions
// ending in "-erring" get only errors (no Prometheus to answer), and those ending in "-unclear" are
// inconclusive at 10 % until resolved is set.
type recMetrics struct {
	resolved atomic.Bool
}

func (m *recMetrics) MeasureMetric(_ context.Context, in activities.MeasureRequest) (activities.MeasureResult, error) {
	v, verdict := 0.001, analysis.Successful
	switch version := in.Vars.Version; {
	case strings.HasSuffix(version, "-regressed") && in.Weight == 10:
		v, verdict = 0.2, analysis.Failed
	case strings.HasSuffix(version, "-erring"):
		return activities.MeasureResult{Name: in.Name, Verdict: analysis.Error, Detail: "query failed: connection refused", Query: "recorded"}, nil
	case strings.HasSuffix(version, "-unclear") && in.Weight == 10 && !m.resolved.Load():
		return activities.MeasureResult{Name: in.Name, Verdict: analysis.Inconclusive, Detail: "no data", Query: "recorded"}, nil
	}
	return activities.MeasureResult{Name: in.Name, Verdict: verdict, Value: &v, Detail: "recorded", Query: "recorded"}, nil
}

type recChecks struct{}

func (*recChecks) RunCheck(_ context.Context, in activities.CheckRequest) (activities.CheckResult, error) {
	if strings.HasSuffix(in.Vars.Version, "-bad") && in.Vars.Weight == 10 {
		return activities.CheckResult{Name: in.Check.Name, Detail: "status 500, want 200"}, nil
	}
	return activities.CheckResult{Name: in.Check.Name, Passed: true}, nil
}

// recSpec is a two-environment spec: staging (rolling, unless the scenario gives its own) and prod.
func recSpec(service string, staging *spec.Environment, prod spec.Environment) spec.Spec {
	sec := func(s int) spec.Duration { return spec.Duration(time.Duration(s) * time.Second) }
	check := spec.Check{Name: "health", Exec: []string{"true"}}
	prod.Name, prod.Replicas = "production", 2
	if prod.Strategy.Type == spec.StrategyCanary {
		prod.Strategy.Analysis = &spec.Analysis{Interval: sec(1), Checks: []spec.Check{check}}
	}
	prod.Verify = &spec.Verify{Window: sec(1), Interval: sec(1), Checks: []spec.Check{check}}
	stg := spec.Environment{Name: "staging", Gate: spec.Gate{Auto: true}, Replicas: 1,
		Strategy: spec.Strategy{Type: spec.StrategyRolling, MaxUnavailable: 1, MaxSurge: 1},
		Checks:   spec.Checks{Smoke: []spec.Check{check}}}
	if staging != nil {
		stg = *staging
		stg.Name, stg.Replicas = "staging", 1
		stg.Strategy.Analysis = &spec.Analysis{Interval: sec(1), Checks: []spec.Check{check}}
	}
	return spec.Spec{
		Service:      service,
		Image:        spec.Image{Repository: "registry.local/" + service},
		Platform:     spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}, SetWeight: []string{"w"}, Promote: []string{"p"}, Rollback: []string{"rb"}, Remove: []string{"rm"}}},
		Environments: []spec.Environment{stg, prod},
	}
}

type scenario struct {
	name    string
	version string
	staging *spec.Environment // nil: a rolling staging
	prod    spec.Environment
	// current gives the platform a current command, so the release asks what runs.
	current bool
	// metrics adds a metric, error-rate, to production's canary analysis and verification.
	metrics bool
	// edit changes the spec last.
	edit func(*spec.Spec)
	// act drives the running release with Updates, in order, each when the stage it waits for is reached.
	act func(ctx context.Context, c client.Client, id string)
}

func record() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Port: 0, UIPort: -1})
	if err != nil {
		fatalf("start dev server: %v", err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(),
		Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		fatalf("%v", err)
	}
	defer c.Close()
	const queue = "ferry-record"
	w := worker.New(c, queue, worker.Options{MaxHeartbeatThrottleInterval: time.Second})
	w.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(workflows.PausedAnalysis, workflow.RegisterOptions{Name: workflows.PausedAnalysisWorkflow})
	w.RegisterWorkflowWithOptions(workflows.Contract, workflow.RegisterOptions{Name: workflows.ContractWorkflow})
	platform := &recPlatform{deployed: map[[2]string]string{}, serving: map[[2]string]string{}}
	w.RegisterActivity(platform)
	w.RegisterActivity(&recChecks{})
	w.RegisterActivity(&recArtifact{})
	w.RegisterActivity(&recMigrations{})
	metrics := &recMetrics{}
	w.RegisterActivity(metrics)
	w.RegisterActivity(&activities.Temporal{Client: c})
	if err := w.Start(); err != nil {
		fatalf("%v", err)
	}
	defer w.Stop()

	sec := func(s int) spec.Duration { return spec.Duration(time.Duration(s) * time.Second) }
	canary := spec.Environment{
		Gate: spec.Gate{Approval: &spec.Approval{Approvers: []string{"release-lead"}, Quorum: 1}},
		Strategy: spec.Strategy{Type: spec.StrategyCanary, Steps: []spec.Step{
			{Weight: 10, Bake: sec(2)}, {Weight: 50, Bake: sec(2)}, {Weight: 100},
		}},
	}
	approve := func(ctx context.Context, c client.Client, id string) {
		awaitStage(ctx, c, id, workflows.StageGate)
		update(ctx, c, id, workflows.UpdateApprove, workflows.ApproveInput{Env: "production", Identity: "release-lead", Reason: "recorded"})
	}
	autoCanary := canary
	autoCanary.Gate = spec.Gate{Auto: true}
	stagingCanary := autoCanary
	stagingCanary.Strategy.Steps = []spec.Step{{Weight: 10, Bake: sec(30)}, {Weight: 100}}
	cadence := autoCanary
	cadence.Strategy.Steps = []spec.Step{{Weight: 10, Bake: sec(3)}, {Pause: &spec.Pause{Duration: sec(2)}}, {Weight: 50}, {Weight: 100}}
	paused := canary
	paused.Gate = spec.Gate{Auto: true}
	paused.Strategy.Steps = []spec.Step{{Weight: 10, Bake: sec(30)}, {Pause: &spec.Pause{}}, {Weight: 50, Bake: sec(30)}, {Weight: 100}}
	scenarios := []scenario{
		{name: "canary-approved", version: "1.0.0", prod: canary, act: approve},
		{name: "canary-analysis-rollback", version: "1.1.0-bad", prod: canary, act: approve},
		{name: "abort-at-gate", version: "1.2.0", prod: canary, act: func(ctx context.Context, c client.Client, id string) {
			awaitStage(ctx, c, id, workflows.StageGate)
			update(ctx, c, id, workflows.UpdateAbort, workflows.AbortInput{Identity: "alice", Reason: "recorded abort"})
		}},
		{name: "pause-resume-promote", version: "1.3.0", prod: paused, act: func(ctx context.Context, c client.Client, id string) {
			awaitBaking(ctx, c, id)
			update(ctx, c, id, workflows.UpdatePause, workflows.PauseInput{Identity: "alice", Reason: "look"})
			update(ctx, c, id, workflows.UpdateResume, workflows.ResumeInput{Identity: "alice"})
			update(ctx, c, id, workflows.UpdatePromote, workflows.PromoteInput{Identity: "alice"}) // ends the 10% bake
			awaitPaused(ctx, c, id)
			update(ctx, c, id, workflows.UpdatePromote, workflows.PromoteInput{Identity: "alice", Full: true})
		}},
		{name: "paused-analysis", version: "1.5.0", prod: paused, act: func(ctx context.Context, c client.Client, id string) {
			awaitBaking(ctx, c, id)
			update(ctx, c, id, workflows.UpdatePause, workflows.PauseInput{Identity: "alice", Reason: "weekend"})
			time.Sleep(3 * time.Second) // analysis keeps running, every second, in a child workflow
			update(ctx, c, id, workflows.UpdateResume, workflows.ResumeInput{Identity: "alice"})
			update(ctx, c, id, workflows.UpdatePromote, workflows.PromoteInput{Identity: "alice", Full: true})
		}},
		{name: "abort-during-deploy", version: "1.5.0-slow", prod: paused, act: func(ctx context.Context, c client.Client, id string) {
			// The abort cancels the running deploy; the rollback waits for the cancellation to complete.
			awaitStatus(ctx, c, id, func(s workflows.Status) bool { return s.Env == "production" && s.Stage == workflows.StageDeploy })
			update(ctx, c, id, workflows.UpdateAbort, workflows.AbortInput{Identity: "alice", Reason: "recorded abort"})
		}},
		{name: "blue-green", version: "1.4.0", prod: spec.Environment{Gate: spec.Gate{Auto: true},
			Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: sec(1)}}},
		// A promote --full in staging's canary; production's canary still runs every step.
		{name: "decision-scope", version: "1.5.0", staging: &stagingCanary, prod: autoCanary,
			act: func(ctx context.Context, c client.Client, id string) {
				awaitStatus(ctx, c, id, func(s workflows.Status) bool { return s.Env == "staging" && !s.BakeUntil.IsZero() })
				update(ctx, c, id, workflows.UpdatePromote, workflows.PromoteInput{Identity: "alice", Full: true})
			}},
		// Analysis on its cadence through a bake, a timed pause step and a step without a bake.
		{name: "analysis-cadence", version: "1.6.0", prod: cadence},
		// Asks the platform what runs, then is cancelled while blue-green keeps the old set: it scales it down.
		{name: "current-cancel-scale-down", version: "1.5.0", current: true, prod: spec.Environment{Gate: spec.Gate{Auto: true},
			Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: sec(60)}},
			act: func(ctx context.Context, c client.Client, id string) {
				awaitStage(ctx, c, id, workflows.StageScaleDown)
				if err := c.CancelWorkflow(ctx, id, ""); err != nil {
					fatalf("%s: cancel: %v", id, err)
				}
			}},
		// The worker refuses the release before anything runs.
		{name: "admission-refused", version: "1.7.0-untrusted", prod: autoCanary},
		// Metric analysis fails at 10 %, and the release rolls back.
		{name: "metric-analysis-rollback", version: "1.8.0-regressed", prod: autoCanary, metrics: true},
		// Metric analysis and verification pass.
		{name: "metric-analysis", version: "1.8.0", prod: autoCanary, metrics: true},
		// The platform says 0.9.0 serves; 0.8.0 is older, so the release is refused as a downgrade.
		{name: "downgrade-refused", version: "0.8.0", current: true, prod: autoCanary},
		// Fail closed: a blue-green watch whose metric only errs ends without evidence and rolls back.
		{name: "fail-closed-blue-green", version: "1.9.0-erring", prod: spec.Environment{Gate: spec.Gate{Auto: true},
			Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: sec(1),
				Analysis: &spec.Analysis{Interval: sec(1), MetricAnalysis: spec.MetricAnalysis{Metrics: []string{"error-rate"}, InitialDelay: sec(1), ConsecutiveErrorLimit: 4}}}},
			metrics: true},
		// Fail closed: every bake, the bakeless 100 % step (after its initial delay) and verification have
		// evidence, and the release succeeds.
		{name: "fail-closed-canary", version: "1.9.0", prod: autoCanary, metrics: true, edit: func(s *spec.Spec) {
			s.Environments[1].Strategy.Analysis.InitialDelay = sec(1)
		}},
		// An inconclusive metric pauses the 10 % bake; ferry resume goes on, and the bake's deadline moved by
		// the pause.
		{name: "inconclusive-pause-resume", version: "1.9.0-unclear", prod: autoCanary, metrics: true,
			act: func(ctx context.Context, c client.Client, id string) {
				awaitPaused(ctx, c, id)
				time.Sleep(2 * time.Second)
				metrics.resolved.Store(true)
				update(ctx, c, id, workflows.UpdateResume, workflows.ResumeInput{Identity: "alice"})
			}},
		// Nothing serves production, so its canary is refused before anything runs there.
		{name: "canary-nothing-runs", version: "1.9.0", current: true, prod: autoCanary},
		// Outcomes are observed: a canary that succeeds, and one that rolls back.
		{name: "observed-canary", version: "2.0.0", current: true, prod: autoCanary},
		{name: "observed-canary-rollback", version: "2.1.0-bad", current: true, prod: autoCanary},
		// An abort while the canary promotes: the promotion runs to its end, then the rollback restores 0.9.0.
		{name: "observed-abort-during-promote", version: "2.2.0-slowpromote", current: true, prod: autoCanary,
			act: func(ctx context.Context, c client.Client, id string) {
				awaitStatus(ctx, c, id, func(s workflows.Status) bool { return s.Env == "production" && s.Stage == workflows.StagePromote })
				update(ctx, c, id, workflows.UpdateAbort, workflows.AbortInput{Identity: "alice", Reason: "recorded abort"})
			}},
		// An abort while production backfills: the release ends failed, promoted, with the backfill stopped at 500.
		{name: "abort-during-backfill", version: "2.4.0", prod: autoCanary, edit: func(s *spec.Spec) {
			s.Migrations = []spec.Migration{{Name: "slow-backfill", Database: "users", Expand: "db/004_expand.sql",
				Backfill: &spec.Backfill{Table: "users", Set: "verified = true", Where: "verified IS NULL"}}}
			s.Requires = []string{"slow-backfill"}
		}, act: func(ctx context.Context, c client.Client, id string) {
			awaitStatus(ctx, c, id, func(s workflows.Status) bool { return s.Env == "production" && s.Stage == workflows.StageBackfill })
			update(ctx, c, id, workflows.UpdateAbort, workflows.AbortInput{Identity: "alice", Reason: "recorded abort"})
		}},
		// An abort during blue-green's scale-down delay switches back to the kept set.
		{name: "observed-blue-green-switch-back", version: "2.3.0", current: true, prod: spec.Environment{Gate: spec.Gate{Auto: true},
			Strategy: spec.Strategy{Type: spec.StrategyBlueGreen, ScaleDownDelay: sec(60)}},
			act: func(ctx context.Context, c client.Client, id string) {
				awaitStage(ctx, c, id, workflows.StageScaleDown)
				update(ctx, c, id, workflows.UpdateAbort, workflows.AbortInput{Identity: "alice", Reason: "recorded abort"})
			}},
	}
	if err := os.MkdirAll(historyDir, 0o755); err != nil {
		fatalf("%v", err)
	}
	for _, sc := range scenarios {
		if !strings.HasPrefix(sc.name, *only) {
			continue
		}
		service := "rec-" + sc.name
		in := workflows.ReleaseInput{Spec: recSpec(service, sc.staging, sc.prod), Version: sc.version, GitSHA: "0123abc", StartedBy: "recorder"}
		if sc.current {
			in.Spec.Platform.Exec.Current = []string{"current"}
		}
		if sc.metrics {
			limit := 0.01
			in.Spec.Metrics = map[string]spec.Metric{"error-rate": {Query: `sum(rate(errors{version="{{.Version}}"}[{{.Interval}}]))`, Max: &limit}}
			prod := &in.Spec.Environments[1]
			a := *prod.Strategy.Analysis
			a.Metrics = []string{"error-rate"}
			v := *prod.Verify
			v.Metrics = []string{"error-rate"}
			prod.Strategy.Analysis, prod.Verify = &a, &v
		}
		if sc.edit != nil {
			sc.edit(&in.Spec)
		}
		id := workflows.ReleaseWorkflowID(service, sc.version)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ReleaseWorkflow, in)
		if err != nil {
			fatalf("%s: start: %v", sc.name, err)
		}
		if sc.act != nil {
			sc.act(ctx, c, id)
		}
		_ = run.Get(ctx, nil) // failed outcomes are expected for some scenarios
		writeHistory(ctx, c, id, run.GetRunID(), sc.name)
	}
	if *only == "" || strings.HasPrefix(*only, "engine") {
		recordEngineBinding(ctx, c, queue, platform)
	}
	if *only == "" || strings.HasPrefix(*only, "downgrade-lost-race") {
		recordLostRace(ctx, c, queue)
	}
	if *only != "" {
		if strings.HasPrefix(*only, "expand-contract") {
			recordExpandContract(ctx, c, queue)
		}
		writeHistoryIDs()
		return
	}
	// The child that ran the paused analysis.
	writeHistory(ctx, c, workflows.ReleaseWorkflowID("rec-paused-analysis", "1.5.0")+"/paused-analysis/production/1", "", "paused-analysis-child")
	// The EnvLock of the first scenario's production, still running: it replays as a partial history.
	writeHistory(ctx, c, workflows.EnvLockWorkflowID("rec-canary-approved", "production"), "", "envlock")
	recordLockContinueAsNew(ctx, c, queue)
	recordLockCommitOrder(ctx, c, queue)
	recordLockLivenessAdopt(ctx, c, queue)
	recordExpandContract(ctx, c, queue)
	writeHistoryIDs()
}

// recordLostRace records a release that lost a race: 2.4.0 starts and waits at staging's approval gate; 2.5.0,
// committed an hour later and released to production alone, deploys there meanwhile; once staging is approved,
// 2.4.0 reaches production, whose stable version is newer and was deployed after 2.4.0 started, and ends
// superseded, not refused as a downgrade.
func recordLostRace(ctx context.Context, c client.Client, queue string) {
	const service = "rec-downgrade-lost-race"
	commit := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	start := func(version string, commit time.Time, envs func([]spec.Environment) []spec.Environment) (string, client.WorkflowRun) {
		s := recSpec(service, nil, spec.Environment{Gate: spec.Gate{Auto: true},
			Strategy: spec.Strategy{Type: spec.StrategyRolling, MaxUnavailable: 1, MaxSurge: 1}})
		s.Environments = envs(s.Environments)
		id := workflows.ReleaseWorkflowID(service, version)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ReleaseWorkflow,
			workflows.ReleaseInput{Spec: s, Version: version, GitSHA: "0123abc", StartedBy: "recorder", CommitTime: commit})
		if err != nil {
			fatalf("%s: start: %v", id, err)
		}
		return id, run
	}
	olderID, older := start("2.4.0", commit.Add(-time.Hour), func(envs []spec.Environment) []spec.Environment {
		envs[0].Gate = spec.Gate{Approval: &spec.Approval{Approvers: []string{"release-lead"}, Quorum: 1}}
		return envs
	})
	awaitStage(ctx, c, olderID, workflows.StageGate)
	_, newer := start("2.5.0", commit, func(envs []spec.Environment) []spec.Environment { return envs[1:] })
	if err := newer.Get(ctx, nil); err != nil {
		fatalf("2.5.0: %v", err)
	}
	update(ctx, c, olderID, workflows.UpdateApprove, workflows.ApproveInput{Env: "staging", Identity: "release-lead", Reason: "recorded"})
	_ = older.Get(ctx, nil) // superseded
	writeHistory(ctx, c, olderID, older.GetRunID(), "downgrade-lost-race")
}

// recordExpandContract records the five steps of an expand-contract migration: 1.0.0 requires it (expand,
// then the backfill once it serves 100 %), a DBA approves the contract, 1.1.0 completes it, and the
// migration's Contract workflow runs the contract once 1.1.0 serves everywhere and minAge (1 s) has passed.
func recordExpandContract(ctx context.Context, c client.Client, queue string) {
	const service = "rec-expand-contract"
	m := spec.Migration{Name: "add-email-verified", Database: "users", Expand: "db/003_expand.sql",
		Backfill: &spec.Backfill{Table: "users", Set: "email_verified = (legacy_flag = 'Y')", Where: "email_verified IS NULL"},
		Contract: &spec.Contract{SQL: "db/003_contract.sql", MinAge: spec.Duration(time.Second),
			Approval: &spec.Approval{Approvers: []string{"dba"}, Quorum: 1}}}
	s := recSpec(service, nil, spec.Environment{Gate: spec.Gate{Auto: true},
		Strategy: spec.Strategy{Type: spec.StrategyRolling, MaxUnavailable: 1, MaxSurge: 1}})
	s.Platform.Exec.Current = []string{"current"}
	s.Migrations = []spec.Migration{m}
	release := func(version string, edit func(*spec.Spec)) {
		rs := s
		edit(&rs)
		id := workflows.ReleaseWorkflowID(service, version)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ReleaseWorkflow,
			workflows.ReleaseInput{Spec: rs, Version: version, GitSHA: "0123abc", StartedBy: "recorder"})
		if err != nil {
			fatalf("%s: start: %v", id, err)
		}
		if err := run.Get(ctx, nil); err != nil {
			fatalf("%s: %v", id, err)
		}
		writeHistory(ctx, c, id, run.GetRunID(), "migration-"+version)
	}
	release("1.0.0", func(s *spec.Spec) { s.Requires = []string{m.Name} })
	contractID := workflows.ContractWorkflowID(service, m.Database, m.Name)
	update(ctx, c, contractID, workflows.UpdateApproveContract, workflows.ContractApproveInput{Identity: "dba", Reason: "recorded"})
	release("1.1.0", func(s *spec.Spec) { s.Completes = []string{m.Name} })
	if err := c.GetWorkflow(ctx, contractID, "").Get(ctx, nil); err != nil {
		fatalf("%s: %v", contractID, err)
	}
	writeHistory(ctx, c, contractID, "", "contract")
}

// recordLockContinueAsNew records the first run of an EnvLock that continues as new after five signals, the
// last a release whose handling grants a queued release: the run waits for that grant's delivery before it
// continues as new. The releases exist only as requests, so the lock's signals to them fail, which ends the
// wait as well.
func recordLockContinueAsNew(ctx context.Context, c client.Client, queue string) {
	const service = "rec-envlock"
	id := workflows.EnvLockWorkflowID(service, "production")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.EnvLockWorkflow,
		workflows.LockInput{Service: service, Env: "production", SignalLimit: 5})
	if err != nil {
		fatalf("%s: start: %v", id, err)
	}
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	acquire := func(v string, m int) workflows.LockRequest {
		return workflows.LockRequest{WorkflowID: workflows.ReleaseWorkflowID(service, v), Version: v,
			StartedAt: base.Add(time.Duration(m) * time.Minute)}
	}
	release := func(v string) workflows.LockReleaseSignal {
		return workflows.LockReleaseSignal{WorkflowID: workflows.ReleaseWorkflowID(service, v), Deployed: &workflows.Artifact{Version: v}}
	}
	for _, s := range []struct {
		name string
		arg  any
	}{
		{workflows.SignalLockAcquire, acquire("1.0", 0)},
		{workflows.SignalLockAcquire, acquire("1.1", 1)},
		{workflows.SignalLockRelease, release("1.0")},
		{workflows.SignalLockAcquire, acquire("1.2", 2)},
		{workflows.SignalLockRelease, release("1.1")},
	} {
		if err := c.SignalWorkflow(ctx, id, run.GetRunID(), s.name, s.arg); err != nil {
			fatalf("%s: signal %s: %v", id, s.name, err)
		}
	}
	for ctx.Err() == nil {
		desc, err := c.DescribeWorkflowExecution(ctx, id, run.GetRunID())
		if err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			writeHistory(ctx, c, id, run.GetRunID(), "envlock-continue-as-new")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatalf("%s: did not continue as new", id)
}

// recordLockCommitOrder records an EnvLock that orders its waiters by commit time: 1.2 waits behind the
// holder 1.0, then 1.1 asks with an older commit than 1.2's and is superseded at once. The releases exist
// only as requests, so the lock's signals to them fail.
func recordLockCommitOrder(ctx context.Context, c client.Client, queue string) {
	const service = "rec-envlock-commit-order"
	id := workflows.EnvLockWorkflowID(service, "production")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.EnvLockWorkflow,
		workflows.LockInput{Service: service, Env: "production"})
	if err != nil {
		fatalf("%s: start: %v", id, err)
	}
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		version         string
		started, commit int
	}{{"1.0", 0, 0}, {"1.2", 1, 2}, {"1.1", 2, 1}} {
		req := workflows.LockRequest{WorkflowID: workflows.ReleaseWorkflowID(service, r.version), Version: r.version,
			StartedAt: base.Add(time.Duration(r.started) * time.Minute), CommitTime: base.Add(time.Duration(r.commit) * time.Hour)}
		if err := c.SignalWorkflow(ctx, id, run.GetRunID(), workflows.SignalLockAcquire, req); err != nil {
			fatalf("%s: signal: %v", id, err)
		}
	}
	time.Sleep(2 * time.Second) // let the lock handle the three requests and send its signals
	if err := c.TerminateWorkflow(ctx, id, run.GetRunID(), "recorded"); err != nil {
		fatalf("%s: terminate: %v", id, err)
	}
	writeHistory(ctx, c, id, run.GetRunID(), "envlock-commit-order")
}

// recordLockLivenessAdopt records an EnvLock that ignores an adopt without an image, takes one with an image,
// grants 1.0 (a request only: no such release runs), queues 1.1 behind it, and after the liveness interval
// finds that 1.0 does not run and frees the lock, handling the release signals that arrived first.
func recordLockLivenessAdopt(ctx context.Context, c client.Client, queue string) {
	const service = "rec-envlock-liveness"
	id := workflows.EnvLockWorkflowID(service, "production")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.EnvLockWorkflow,
		workflows.LockInput{Service: service, Env: "production"})
	if err != nil {
		fatalf("%s: start: %v", id, err)
	}
	base := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	image := "registry.local/rec@sha256:" + strings.Repeat("c", 64)
	for _, s := range []struct {
		name string
		arg  any
	}{
		{workflows.SignalLockAdopt, workflows.LockAdoptSignal{Stable: workflows.Artifact{Version: "0.9"}, Identity: "sre"}},
		{workflows.SignalLockAdopt, workflows.LockAdoptSignal{Stable: workflows.Artifact{Version: "0.9", Image: image}, Identity: "sre"}},
		{workflows.SignalLockAcquire, workflows.LockRequest{WorkflowID: workflows.ReleaseWorkflowID(service, "1.0"), Version: "1.0", StartedAt: base}},
		{workflows.SignalLockAcquire, workflows.LockRequest{WorkflowID: workflows.ReleaseWorkflowID(service, "1.1"), Version: "1.1", StartedAt: base.Add(time.Minute)}},
	} {
		if err := c.SignalWorkflow(ctx, id, run.GetRunID(), s.name, s.arg); err != nil {
			fatalf("%s: signal %s: %v", id, s.name, err)
		}
	}
	time.Sleep(workflows.LockLivenessInterval + 5*time.Second) // the liveness check frees 1.0, 1.1 gets the lock
	if err := c.TerminateWorkflow(ctx, id, run.GetRunID(), "recorded"); err != nil {
		fatalf("%s: terminate: %v", id, err)
	}
	writeHistory(ctx, c, id, run.GetRunID(), "envlock-liveness-adopt")
}

func awaitStage(ctx context.Context, c client.Client, id, stage string) {
	awaitStatus(ctx, c, id, func(s workflows.Status) bool { return s.Stage == stage })
}

// awaitBaking waits until a bake is the active wait, the only time pause and promote are accepted.
func awaitBaking(ctx context.Context, c client.Client, id string) {
	awaitStatus(ctx, c, id, func(s workflows.Status) bool { return !s.BakeUntil.IsZero() })
}

func awaitPaused(ctx context.Context, c client.Client, id string) {
	awaitStatus(ctx, c, id, func(s workflows.Status) bool { return s.Paused })
}

func awaitStatus(ctx context.Context, c client.Client, id string, ok func(workflows.Status) bool) {
	for ctx.Err() == nil {
		if v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus); err == nil {
			var s workflows.Status
			if v.Get(&s) == nil && ok(s) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fatalf("%s: condition not reached", id)
}

func update(ctx context.Context, c client.Client, id, name string, arg any) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		fatalf("%s: update %s: %v", id, name, err)
	}
}

// recordedIDs are the lines of historyIDs: a history's file and its workflow ID.
var recordedIDs []string

// historyIDs names the workflow ID of each recorded history, so that replay runs it under the ID it had: a
// workflow that derives a child's ID from its own would otherwise replay differently.
const historyIDs = "workflow-ids.tsv"

// writeHistoryIDs writes the IDs of the histories just recorded, and keeps those of archived histories
// (v0-*, v1-*, ...) that are still in the directory, and with -only those of every history not recorded now.
func writeHistoryIDs() {
	old, _ := os.ReadFile(filepath.Join(historyDir, historyIDs))
	var kept []string
	for _, line := range strings.SplitAfter(string(old), "\n") {
		file, _, ok := strings.Cut(line, "\t")
		keep := isArchived(file) || (*only != "" && !slices.ContainsFunc(recordedIDs, func(l string) bool { return strings.HasPrefix(l, file+"\t") }))
		if _, err := os.Stat(filepath.Join(historyDir, file)); ok && err == nil && keep {
			kept = append(kept, line)
		}
	}
	data := []byte(strings.Join(append(kept, recordedIDs...), ""))
	if err := os.WriteFile(filepath.Join(historyDir, historyIDs), data, 0o644); err != nil {
		fatalf("%v", err)
	}
}

// isArchived reports whether file is an archived history, such as v2-canary-approved.json, kept to guard the
// paths of an older version of the workflows.
func isArchived(file string) bool {
	prefix, _, ok := strings.Cut(file, "-")
	if !ok || len(prefix) < 2 || prefix[0] != 'v' {
		return false
	}
	for _, r := range prefix[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func writeHistory(ctx context.Context, c client.Client, id, runID, name string) {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			fatalf("%s: history: %v", id, err)
		}
		h.Events = append(h.Events, e)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		fatalf("%v", err)
	}
	path := filepath.Join(historyDir, name+".json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fatalf("%v", err)
	}
	recordedIDs = append(recordedIDs, name+".json\t"+id+"\n")
	fmt.Printf("recorded %s (%d events)\n", path, len(h.Events))
}
