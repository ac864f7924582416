package starter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	updatepb "go.temporal.io/api/update/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

func TestFilterQuery(t *testing.T) {
	tests := []struct {
		name string
		f    filter
		want string
	}{
		{"all", filter{}, `WorkflowType = "Release" AND ExecutionStatus != "ContinuedAsNew"`},
		{"service", filter{service: "checkout"}, `WorkflowType = "Release" AND FerryService = "checkout" AND ExecutionStatus != "ContinuedAsNew"`},
		{"state", filter{state: "rolled_back"}, `WorkflowType = "Release" AND FerryState = "rolled_back" AND ExecutionStatus != "ContinuedAsNew"`},
		{"service and state", filter{service: "checkout", state: "running"},
			`WorkflowType = "Release" AND FerryService = "checkout" AND FerryState = "running" AND ExecutionStatus != "ContinuedAsNew"`},
		{"newest running", filter{service: "checkout", running: true},
			`WorkflowType = "Release" AND FerryService = "checkout" AND ExecutionStatus = "Running"`},
		{"quotes are escaped", filter{service: `a"b\c`}, `WorkflowType = "Release" AND FerryService = "a\"b\\c" AND ExecutionStatus != "ContinuedAsNew"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.query(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func payloads(t *testing.T, v any) *commonpb.Payloads {
	t.Helper()
	return &commonpb.Payloads{Payloads: []*commonpb.Payload{payload(t, v)}}
}

func keywordAttrs(t *testing.T, kv ...string) *commonpb.SearchAttributes {
	sa := &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{}}
	for i := 0; i < len(kv); i += 2 {
		sa.IndexedFields[kv[i]] = payload(t, kv[i+1])
	}
	return sa
}

func TestRowFromInfo(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	info := func(status enumspb.WorkflowExecutionStatus, closed bool, kv ...string) *workflowpb.WorkflowExecutionInfo {
		i := &workflowpb.WorkflowExecutionInfo{
			Execution:        &commonpb.WorkflowExecution{WorkflowId: "ferry-release/checkout/1.4.2", RunId: "r1"},
			StartTime:        timestamppb.New(start),
			Status:           status,
			SearchAttributes: keywordAttrs(t, kv...),
		}
		if closed {
			i.CloseTime = timestamppb.New(start.Add(time.Hour))
		}
		return i
	}
	attrs := []string{"FerryService", "checkout", "FerryVersion", "1.4.2", "FerryStage", "canary", "FerryEnvironment", "production"}
	tests := []struct {
		name      string
		info      *workflowpb.WorkflowExecutionInfo
		wantState string
		wantClose bool
	}{
		{"running", info(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, false, append(attrs, "FerryState", "running")...), "running", false},
		{"recorded final state wins", info(enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, true, append(attrs, "FerryState", "rolled_back")...), "rolled_back", true},
		{"terminated while running", info(enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, true, append(attrs, "FerryState", "running")...), "failed", true},
		{"canceled without state", info(enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, true, attrs...), "aborted", true},
		// The release goes on in its next run: not failed, as it read before.
		{"continued as new", info(enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, true, append(attrs, "FerryState", "running")...), "running", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rowFromInfo(tt.info, converter.GetDefaultDataConverter())
			want := Row{Service: "checkout", Version: "1.4.2", State: tt.wantState, Stage: "canary", Env: "production",
				StartTime: start, WorkflowID: "ferry-release/checkout/1.4.2", RunID: "r1"}
			if tt.wantClose {
				want.CloseTime = start.Add(time.Hour)
			}
			if r != want {
				t.Errorf("got %+v, want %+v", r, want)
			}
		})
	}
}

func TestStatusLine(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	base := workflows.Status{Service: "checkout", Version: "1.4.2", State: workflows.StateRunning}
	with := func(f func(*workflows.Status)) workflows.Status { s := base; f(&s); return s }
	tests := []struct {
		name string
		st   workflows.Status
		now  time.Time
		want string
	}{
		{"build", with(func(s *workflows.Status) { s.Stage = "build" }), now, "checkout 1.4.2: build"},
		{"canary bake", with(func(s *workflows.Status) {
			s.Env, s.Stage, s.Strategy, s.Step, s.Steps, s.Weight = "production", "canary", "canary", 2, 3, 50
			s.BakeUntil = now.Add(4*time.Minute + 12*time.Second + 300*time.Millisecond)
		}), now, "checkout 1.4.2: production canary, step 2/3, weight 50%, bake 4m12s left"},
		{"zero now drops the countdown", with(func(s *workflows.Status) {
			s.Env, s.Stage, s.Strategy, s.Step, s.Steps, s.Weight = "production", "canary", "canary", 2, 3, 50
			s.BakeUntil = now.Add(time.Minute)
		}), time.Time{}, "checkout 1.4.2: production canary, step 2/3, weight 50%"},
		{"overdue bake", with(func(s *workflows.Status) {
			s.Env, s.Stage, s.BakeUntil = "production", "canary", now.Add(-time.Second)
		}), now, "checkout 1.4.2: production canary, weight 0%, bake 0s left"},
		{"gate", with(func(s *workflows.Status) {
			s.Env, s.Stage, s.Waiting = "production", "gate", "approval from release-lead (0/1)"
		}), now, "checkout 1.4.2: production, waiting for approval from release-lead (0/1)"},
		{"gate of a canary env shows no weight yet", with(func(s *workflows.Status) {
			s.Env, s.Stage, s.Strategy, s.Waiting = "production", "gate", "canary", "the deploy window"
		}), now, "checkout 1.4.2: production, waiting for the deploy window"},
		{"paused", with(func(s *workflows.Status) { s.Env, s.Stage, s.Paused = "staging", "deploy", true }), now,
			"checkout 1.4.2: staging deploy, paused"},
		{"ended", with(func(s *workflows.Status) { s.State, s.Reason = "rolled_back", "analysis failed: healthz 503" }), now,
			"checkout 1.4.2: rolled back: analysis failed: healthz 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusLine(tt.st, tt.now); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUILink(t *testing.T) {
	run := Run{WorkflowID: "ferry-release/checkout/1.4.2", RunID: "abc"}
	if got, want := UILink("http://127.0.0.1:8233/", "default", run),
		"http://127.0.0.1:8233/namespaces/default/workflows/ferry-release%2Fcheckout%2F1.4.2/abc/history"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := UILink("", "default", run); got != "" {
		t.Errorf("got %q without a base, want empty", got)
	}
	run.RunID = ""
	if got, want := UILink("http://ui", "default", run), "http://ui/namespaces/default/workflows?query=WorkflowId%3D%22ferry-release%2Fcheckout%2F1.4.2%22"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestOutcomeOf(t *testing.T) {
	base := workflows.ReleaseResult{Service: "checkout", Version: "1.4.2"}
	details := workflows.ReleaseResult{Service: "checkout", Version: "1.4.2", State: workflows.StateRolledBack, Reason: "analysis failed"}
	tests := []struct {
		name       string
		err        error
		wantState  string
		wantReason string
	}{
		{"rolled back with details", temporal.NewApplicationError("rolled back", workflows.ErrTypeRolledBack, details), "rolled_back", "analysis failed"},
		{"aborted without details", temporal.NewApplicationError("aborted by alice", workflows.ErrTypeAborted), "aborted", "aborted by alice"},
		{"failed", temporal.NewApplicationError("deploy failed", workflows.ErrTypeFailed), "failed", "deploy failed"},
		{"timed out", temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil), "failed", "timed out"},
		{"canceled", temporal.NewCanceledError(), "aborted", "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := outcomeOf(tt.err, base)
			if out == nil {
				t.Fatal("got no outcome")
			}
			if out.Result.State != tt.wantState || out.Result.Reason != tt.wantReason || out.Result.Service != "checkout" {
				t.Errorf("got %+v, want state %s reason %q", out.Result, tt.wantState, tt.wantReason)
			}
		})
	}
	if out := outcomeOf(errors.New("connection refused"), base); out != nil {
		t.Errorf("got outcome %+v for a transport error, want nil", out)
	}
}

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var id int64
	ev := func(typ enumspb.EventType, set func(*historypb.HistoryEvent)) *historypb.HistoryEvent {
		id++
		e := &historypb.HistoryEvent{EventId: id, EventType: typ, EventTime: timestamppb.New(t0.Add(time.Duration(id) * time.Second))}
		set(e)
		return e
	}
	platform := func(env, track, version string, weight int) *commonpb.Payloads {
		return payloads(t, activities.PlatformRequest{Vars: activities.TemplateVars{Env: env, Track: track, Version: version, Weight: weight}})
	}
	scheduled := func(name string, in *commonpb.Payloads) *historypb.HistoryEvent {
		return ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityType: &commonpb.ActivityType{Name: name}, Input: in}}
		})
	}
	completed := func(scheduledID int64, result *commonpb.Payloads) *historypb.HistoryEvent {
		return ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
				ScheduledEventId: scheduledID, Result: result}}
		})
	}

	in := workflows.ReleaseInput{Spec: spec.Spec{Service: "checkout"}, Version: "1.4.2", GitSHA: "abc1234", StartedBy: "ci@runner"}
	events := []*historypb.HistoryEvent{
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
				Input: payloads(t, in), Identity: "123@runner"}}
		}),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, func(*historypb.HistoryEvent) {}),
		ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
				SearchAttributes: keywordAttrs(t, "FerryEnvironment", "staging", "FerryStage", "deploy")}}
		}),
		scheduled("Deploy", platform("staging", "stable", "1.4.2", 0)), // 4
		completed(4, nil),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_WorkflowExecutionUpdateAcceptedEventAttributes{WorkflowExecutionUpdateAcceptedEventAttributes: &historypb.WorkflowExecutionUpdateAcceptedEventAttributes{
				AcceptedRequest: &updatepb.Request{
					Meta:  &updatepb.Meta{UpdateId: "u1", Identity: "sdk@laptop"},
					Input: &updatepb.Input{Name: workflows.UpdateApprove, Args: payloads(t, workflows.ApproveInput{Env: "production", Identity: "alice@laptop", Reason: "looks good"})},
				}}}
		}),
		scheduled("SetWeight", platform("production", "canary", "1.4.2", 10)), // 7
		completed(7, nil),
		ev(enumspb.EVENT_TYPE_TIMER_STARTED, func(e *historypb.HistoryEvent) {
			e.UserMetadata = &sdkpb.UserMetadata{Summary: payload(t, "bake production step 1 (10%)")}
			e.Attributes = &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{
				TimerId: "9", StartToFireTimeout: durationpb.New(5 * time.Minute)}}
		}),
		scheduled("RunCheck", payloads(t, activities.CheckRequest{Check: spec.Check{Name: "healthz"}, Vars: activities.TemplateVars{Env: "production", Track: "canary"}})), // 10
		completed(10, payloads(t, activities.CheckResult{Name: "healthz", Passed: false, Detail: "status 503"})),
		scheduled("Rollback", platform("production", "stable", "", 0)), // 12
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_ActivityTaskFailedEventAttributes{ActivityTaskFailedEventAttributes: &historypb.ActivityTaskFailedEventAttributes{
				ScheduledEventId: 12, Failure: &failurepb.Failure{Message: "exit status 1"}}}
		}),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, func(e *historypb.HistoryEvent) { // 14
			e.UserMetadata = &sdkpb.UserMetadata{Summary: payload(t, "request the environment lock")}
			e.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityType: &commonpb.ActivityType{Name: "SignalWithStart"}, Input: payloads(t, activities.SignalWithStartInput{WorkflowID: "ferry-env/checkout/production"})}}
		}),
		completed(14, nil),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, func(e *historypb.HistoryEvent) {
			e.Attributes = &historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes{WorkflowExecutionFailedEventAttributes: &historypb.WorkflowExecutionFailedEventAttributes{
				Failure: &failurepb.Failure{Message: "rolled back", FailureInfo: &failurepb.Failure_ApplicationFailureInfo{ApplicationFailureInfo: &failurepb.ApplicationFailureInfo{
					Type:    workflows.ErrTypeRolledBack,
					Details: payloads(t, workflows.ReleaseResult{State: workflows.StateRolledBack, Reason: "analysis failed in production"}),
				}}}}}
		}),
	}

	got := Timeline(events, converter.GetDefaultDataConverter())
	want := []struct {
		kind, name, text string
		second           int
	}{
		{EventStarted, "release", "release checkout 1.4.2 started by ci@runner, git sha abc1234", 1},
		{EventStage, "deploy", "staging deploy", 3},
		{EventActivity, "Deploy", "Deploy staging track stable version 1.4.2", 5},
		{EventUpdate, "approve", `approve production by alice@laptop: "looks good"`, 6},
		{EventActivity, "SetWeight", "SetWeight production track canary weight 10%", 8},
		{EventTimer, "9", "timer 5m: bake production step 1 (10%)", 9},
		{EventActivity, "RunCheck", "RunCheck healthz production track canary: failed status 503", 11},
		{EventActivity, "Rollback", "Rollback production: failed exit status 1", 13},
		{EventActivity, "SignalWithStart", "SignalWithStart request the environment lock", 15},
		{EventOutcome, "rolled_back", "release rolled back: analysis failed in production", 16},
	}
	if len(got) != len(want) {
		var texts []string
		for _, e := range got {
			texts = append(texts, e.Text)
		}
		t.Fatalf("got %d events:\n%s\nwant %d", len(got), strings.Join(texts, "\n"), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Kind != w.kind || g.Name != w.name || g.Text != w.text || !g.Time.Equal(t0.Add(time.Duration(w.second)*time.Second)) {
			t.Errorf("event %d: got %s %s %q at %s, want %s %s %q at +%ds", i, g.Kind, g.Name, g.Text, g.Time, w.kind, w.name, w.text, w.second)
		}
	}
	if u := got[3]; u.Identity != "alice@laptop" || u.Env != "production" || u.Reason != "looks good" {
		t.Errorf("approve event: got identity %q env %q reason %q, want alice@laptop production \"looks good\"", u.Identity, u.Env, u.Reason)
	}
	if s := got[4]; s.Env != "production" || s.Track != "canary" || s.Weight != 10 {
		t.Errorf("set-weight event: got env %q track %q weight %d, want production canary 10", s.Env, s.Track, s.Weight)
	}
	if !got[6].Failed || !got[7].Failed || got[4].Failed {
		t.Errorf("failed flags: got check %v rollback %v set-weight %v, want true true false", got[6].Failed, got[7].Failed, got[4].Failed)
	}
}

// TestChoose covers which running release a decision without a version goes to: 1.6.0 bakes its production canary
// while 1.7.0 waits for the production lock, and other mixes.
func TestChoose(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rel := func(version, env, stage, waiting string, started time.Duration) RunningRelease {
		return RunningRelease{
			Run: ReleaseRun("checkout", version),
			Status: workflows.Status{Service: "checkout", Version: version, State: workflows.StateRunning, Env: env, Stage: stage,
				Waiting: waiting, StartedAt: t0.Add(started)},
		}
	}
	baking := rel("1.6.0", "production", workflows.StageCanary, "", 0)
	queued := rel("1.7.0", "production", workflows.StageLock, "the production lock", time.Minute)
	atGate := rel("1.7.0", "production", workflows.StageGate, "approval by alice (0/1)", time.Minute)
	stagingBake := rel("1.8.0", "staging", workflows.StageCanary, "", 2*time.Minute)
	atWindow := rel("1.7.0", "production", workflows.StageGate, "the deploy window (Mon-Fri 09:00-17:00 UTC), opens ...", time.Minute)
	deploying := Intent{Decision: workflows.UpdateAbort}
	approveProd := Intent{Decision: workflows.UpdateApprove, ApprovalEnv: "production"}
	tests := []struct {
		name    string
		in      Intent
		running []RunningRelease
		want    string // the version chosen, or the *AmbiguousError's message
	}{
		{"abort goes to the deploying release, not the newer queued one", deploying, []RunningRelease{baking, queued}, "1.6.0"},
		{"abort goes to the deploying release, not the newer one at the gate", deploying, []RunningRelease{atGate, baking}, "1.6.0"},
		{"approve goes to the release at the gate, not the newer deploying one", approveProd, []RunningRelease{stagingBake, atGate}, "1.7.0"},
		{"the only running release is meant whatever its state", deploying, []RunningRelease{queued}, "1.7.0"},
		{"two deploying releases are ambiguous", deploying, []RunningRelease{baking, stagingBake},
			"abort: 2 running releases of checkout are deploying"},
		{"none deploying is ambiguous", deploying, []RunningRelease{atGate, rel("1.9.0", "staging", workflows.StageLock, "the staging lock", 0)},
			"abort: none of the 2 running releases of checkout is deploying"},
		{"a deploy window is no approval", approveProd, []RunningRelease{baking, atWindow},
			"approve: none of the 2 running releases of checkout is waiting for approval in production"},
		{"approval in another environment", Intent{Decision: workflows.UpdateApprove, ApprovalEnv: "staging"}, []RunningRelease{baking, atGate},
			"approve: none of the 2 running releases of checkout is waiting for approval in staging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := choose("checkout", tt.in, tt.running)
			got := run.Version
			var ambiguous *AmbiguousError
			if errors.As(err, &ambiguous) {
				got = err.Error()
				if len(ambiguous.Releases) != len(tt.running) {
					t.Errorf("the error lists %d releases, want all %d", len(ambiguous.Releases), len(tt.running))
				}
			} else if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	var notFound *NotFoundError
	if _, err := choose("checkout", deploying, nil); !errors.As(err, &notFound) || err.Error() != "no running release of checkout" {
		t.Errorf("none running: got %v, want no running release of checkout", err)
	}
}

// TestRankOrdersDeployingFirst: status lists the deploying release first, then the gate, then the lock queue.
func TestRankOrdersDeployingFirst(t *testing.T) {
	st := func(stage string) workflows.Status {
		return workflows.Status{State: workflows.StateRunning, Stage: stage}
	}
	order := []workflows.Status{st(workflows.StageRollback), st(workflows.StageGate), st(workflows.StageLock), st(workflows.StageBuild)}
	for i := 1; i < len(order); i++ {
		if a, b := rank(order[i-1]), rank(order[i]); a >= b {
			t.Errorf("rank(%s) = %d, rank(%s) = %d: want %s first", order[i-1].Stage, a, order[i].Stage, b, order[i-1].Stage)
		}
	}
}

// Start refuses bad coordinates before it touches the client (nil here).
func TestStartRefusesBadCoordinates(t *testing.T) {
	in := workflows.ReleaseInput{Spec: spec.Spec{Service: "checkout"}, Version: "1.0/evil", GitSHA: "abc1234"}
	_, _, err := Start(context.Background(), nil, StartOptions{TaskQueue: "q", Input: in})
	var ce *spec.CoordinateError
	if !errors.As(err, &ce) || ce.Field != spec.FieldVersion {
		t.Errorf("got %v, want a *spec.CoordinateError for the version", err)
	}
}

// The build and the resolution of the image show in the timeline with the digest they pinned.
func TestTimelineArtifact(t *testing.T) {
	var id int64
	activityEvents := func(name string, in, out any) []*historypb.HistoryEvent {
		id += 2
		return []*historypb.HistoryEvent{
			{EventId: id - 1, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
				ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{ActivityType: &commonpb.ActivityType{Name: name}, Input: payloads(t, in)}}},
			{EventId: id, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
				ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: id - 1, Result: payloads(t, out)}}},
		}
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	events := append(
		activityEvents("Build", activities.BuildRequest{Repository: "reg.local/checkout", Version: "1.4.2", GitSHA: "abc1234"},
			activities.ArtifactResult{Image: "reg.local/checkout@" + digest, Digest: digest, Reused: true}),
		activityEvents("Resolve", activities.ResolveRequest{Image: "reg.local/checkout:edge"},
			activities.ArtifactResult{Image: "reg.local/checkout@" + digest, Digest: digest})...)
	got := Timeline(events, converter.GetDefaultDataConverter())
	want := []string{
		"Build reg.local/checkout:1.4.2 git sha abc1234: reg.local/checkout@" + digest + " (already pushed from this git sha)",
		"Resolve reg.local/checkout:edge: reg.local/checkout@" + digest,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Text != w || got[i].Digest != digest || got[i].Kind != EventActivity {
			t.Errorf("event %d: got %s %q digest %q, want activity %q digest %s", i, got[i].Kind, got[i].Text, got[i].Digest, w, digest)
		}
	}
}

func TestTimelineMeasurement(t *testing.T) {
	var id int64
	measure := func(in activities.MeasureRequest, out activities.MeasureResult) []*historypb.HistoryEvent {
		id += 2
		return []*historypb.HistoryEvent{
			{EventId: id - 1, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{
				ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{ActivityType: &commonpb.ActivityType{Name: "MeasureMetric"}, Input: payloads(t, in)}}},
			{EventId: id, EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{
				ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: id - 1, Result: payloads(t, out)}}},
		}
	}
	v := 0.25
	vars := spec.MetricVars{Env: "production", Track: "canary"}
	events := append(
		measure(activities.MeasureRequest{Name: "error-rate", Vars: vars},
			activities.MeasureResult{Name: "error-rate", Verdict: analysis.Failed, Value: &v, Detail: "0.25 is above max 0.01", Query: "sum(x)"}),
		measure(activities.MeasureRequest{Name: "latency", Vars: vars},
			activities.MeasureResult{Name: "latency", Verdict: analysis.Error, Detail: "query failed: connection refused"})...)
	got := Timeline(events, converter.GetDefaultDataConverter())
	want := []string{
		"MeasureMetric error-rate production track canary: 0.25 failed (0.25 is above max 0.01) [sum(x)]",
		"MeasureMetric latency production track canary: - error (query failed: connection refused)",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].Text != w || !got[i].Failed || got[i].Env != "production" {
			t.Errorf("event %d: got %q failed=%v env %q, want %q failed in production", i, got[i].Text, got[i].Failed, got[i].Env, w)
		}
	}
}

// The visibility store can list a release's closed run beside its next one after a continue-as-new: one row per
// release, the later run's. Before the fix both rows stood, and a decision without a version called them
// ambiguous.
func TestAppendRowKeepsOneRowPerRelease(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	row := func(id, run string, start time.Time) Row { return Row{WorkflowID: id, RunID: run, StartTime: start} }
	var rows []Row
	for _, r := range []Row{row("a", "a1", t0), row("b", "b1", t0), row("a", "a2", t0.Add(time.Hour)), row("a", "a0", t0.Add(-time.Hour))} {
		rows = appendRow(rows, r)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.RunID)
	}
	if strings.Join(got, " ") != "a2 b1" {
		t.Errorf("rows: got %q, want a2 b1", got)
	}
}
