package starter

import (
	"context"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/analysis"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// Event kinds in a release timeline.
const (
	EventStarted  = "started"
	EventUpdate   = "update"
	EventActivity = "activity"
	EventTimer    = "timer"
	EventSignal   = "signal"
	EventStage    = "stage"
	EventOutcome  = "outcome"
	// EventCancelRequest is a request to cancel the release through Temporal (its UI or API), not Ferry's abort.
	EventCancelRequest = "cancel-request"
)

// Activity types as the worker registers them: method names of activities.Platform and activities.Checks.
const (
	actRunCheck  = "RunCheck"
	actSetWeight = "SetWeight"
	actRollback  = "Rollback"
	actBuild     = "Build"
	actResolve   = "Resolve"
	actConfig    = "ResolveConfig"
	actMeasure   = "MeasureMetric"
)

// Event is one entry of a release's timeline: who did what, when and why.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is one of the Event* constants.
	Kind string `json:"kind"`
	// Name is the Update, activity type, signal or stage; the final state for an outcome.
	Name     string `json:"name"`
	Identity string `json:"identity,omitempty"`
	Env      string `json:"env,omitempty"`
	// Track and Weight are the key inputs of platform activities.
	Track  string `json:"track,omitempty"`
	Weight int    `json:"weight,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Digest is the image digest a build pushed or a resolution found.
	Digest string `json:"digest,omitempty"`
	Failed bool   `json:"failed,omitempty"`
	// Text is the entry as a sentence, for people.
	Text string `json:"text"`
}

// History returns the timeline of service at version, or with an empty version of its newest release. dc decodes
// the payloads in history: the client's data converter (with its codec, when payloads are encrypted); nil means
// the SDK's default.
func History(ctx context.Context, c client.Client, dc converter.DataConverter, service, version string) ([]Event, error) {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	run, err := Newest(ctx, c, service, version)
	if err != nil {
		return nil, err
	}
	// A release that continued as new between environments has a run per stretch: read them all, newest
	// back to the first, and join their timelines in order.
	var out []Event
	for runID := run.RunID; ; {
		var events []*historypb.HistoryEvent
		it := c.GetWorkflowHistory(ctx, run.WorkflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return nil, missing(err, run, fmt.Errorf("read history of %s: %w", run.WorkflowID, err))
			}
			events = append(events, e)
		}
		out = append(Timeline(events, dc), out...)
		if len(events) == 0 {
			return out, nil
		}
		if runID = events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); runID == "" {
			return out, nil
		}
	}
}

// Timeline turns raw history events into the entries a person reads. Workflow tasks, activity starts and other
// bookkeeping are left out; payloads are decoded with dc.
func Timeline(events []*historypb.HistoryEvent, dc converter.DataConverter) []Event {
	t := timeline{dc: dc, scheduled: map[int64]Event{}, updates: map[string]string{}}
	for _, e := range events {
		if ev, ok := t.event(e); ok {
			ev.Time = e.GetEventTime().AsTime()
			t.out = append(t.out, ev)
		}
	}
	return t.out
}

type timeline struct {
	dc converter.DataConverter
	// scheduled holds each scheduled activity, by event ID, until it closes.
	scheduled map[int64]Event
	// updates maps accepted Update IDs to their names.
	updates map[string]string
	out     []Event
}

// updateArgs reads every decision input (ApproveInput, AbortInput, ...): they share these fields.
type updateArgs struct {
	Env      string `json:"env"`
	Identity string `json:"identity"`
	Reason   string `json:"reason"`
	Full     bool   `json:"full"`
}

// activityArgs reads the inputs of the platform and check activities.
type activityArgs struct {
	Vars  activities.TemplateVars `json:"vars"`
	Check spec.Check              `json:"check"`
	// Of Build and Resolve.
	Repository string `json:"repository"`
	Version    string `json:"version"`
	GitSHA     string `json:"gitSha"`
	Image      string `json:"image"`
	// Of ResolveConfig.
	Env string `json:"env"`
	// Of MeasureMetric: the metric's name (its vars are the query's, with the same env and track).
	Name string `json:"name"`
}

func (t *timeline) event(e *historypb.HistoryEvent) (Event, bool) {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		a := e.GetWorkflowExecutionStartedEventAttributes()
		var in workflows.ReleaseInput
		t.decode(a.GetInput(), &in)
		if in.Resume != nil {
			return Event{}, false // a new run of the same release, between environments: nothing a person did
		}
		who := in.StartedBy
		if who == "" {
			who = a.GetIdentity()
		}
		text := fmt.Sprintf("release %s %s started by %s", in.Spec.Service, in.Version, who)
		if in.GitSHA != "" {
			text += ", git sha " + in.GitSHA
		}
		if in.Image != "" {
			text += ", image " + in.Image
		}
		return Event{Kind: EventStarted, Name: "release", Identity: who, Text: text}, true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		req := e.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest()
		name := req.GetInput().GetName()
		t.updates[req.GetMeta().GetUpdateId()] = name
		var in updateArgs
		t.decode(req.GetInput().GetArgs(), &in)
		if in.Identity == "" {
			in.Identity = req.GetMeta().GetIdentity()
		}
		text := strings.Join(nonEmpty(name, in.Env, flag("--full", in.Full)), " ") + " by " + in.Identity
		if in.Reason != "" {
			text += fmt.Sprintf(": %q", in.Reason)
		}
		return Event{Kind: EventUpdate, Name: name, Identity: in.Identity, Env: in.Env, Reason: in.Reason, Text: text}, true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
		a := e.GetWorkflowExecutionUpdateCompletedEventAttributes()
		f := a.GetOutcome().GetFailure()
		if f == nil {
			return Event{}, false // acceptance was the news
		}
		name := t.updates[a.GetMeta().GetUpdateId()]
		return Event{Kind: EventUpdate, Name: name, Failed: true, Reason: f.GetMessage(),
			Text: fmt.Sprintf("%s failed: %s", name, f.GetMessage())}, true

	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := e.GetActivityTaskScheduledEventAttributes()
		var in activityArgs
		t.decode(a.GetInput(), &in)
		t.scheduled[e.GetEventId()] = activityEvent(a.GetActivityType().GetName(), in, t.summary(e))
		return Event{}, false

	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := e.GetActivityTaskCompletedEventAttributes()
		ev := t.scheduled[a.GetScheduledEventId()]
		if ev.Name == actBuild || ev.Name == actResolve {
			var res activities.ArtifactResult
			t.decode(a.GetResult(), &res)
			ev.Digest = res.Digest
			ev.Text += ": " + res.Image
			if res.Reused {
				ev.Text += " (already pushed from this git sha)"
			}
		}
		if ev.Name == actConfig {
			var res activities.ConfigResult
			t.decode(a.GetResult(), &res)
			ev.Text += ": " + res.Hash
		}
		if ev.Name == actMeasure {
			var res activities.MeasureResult
			t.decode(a.GetResult(), &res)
			ev.Text += fmt.Sprintf(": %s %s", workflows.FormatValue(res.Value), res.Verdict)
			if res.Detail != "" {
				ev.Text += " (" + res.Detail + ")"
			}
			if res.Query != "" {
				ev.Text += " [" + res.Query + "]"
			}
			if res.Verdict != analysis.Successful {
				ev.Failed, ev.Reason = true, res.Detail
			}
		}
		if ev.Name == actRunCheck {
			var res activities.CheckResult
			t.decode(a.GetResult(), &res)
			if res.Passed {
				ev.Text += ": passed"
			} else {
				ev.Failed, ev.Reason = true, res.Detail
				ev.Text += ": failed " + res.Detail
			}
		}
		return ev, ev.Name != ""

	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := e.GetActivityTaskFailedEventAttributes()
		return t.activityFailed(a.GetScheduledEventId(), a.GetFailure())

	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		a := e.GetActivityTaskTimedOutEventAttributes()
		return t.activityFailed(a.GetScheduledEventId(), a.GetFailure())

	case enumspb.EVENT_TYPE_TIMER_STARTED:
		a := e.GetTimerStartedEventAttributes()
		summary := t.summary(e)
		// A bake resumed after an analysis run has an odd remainder: hundredths of a second are plenty.
		text := "timer " + spec.FormatDuration(a.GetStartToFireTimeout().AsDuration().Round(10*time.Millisecond))
		if summary != "" {
			text += ": " + summary
		}
		return Event{Kind: EventTimer, Name: a.GetTimerId(), Reason: summary, Text: text}, true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a := e.GetWorkflowExecutionSignaledEventAttributes()
		text := "signal " + a.GetSignalName()
		if a.GetSignalName() == workflows.SignalSuperseded {
			var in workflows.SupersededSignal
			t.decode(a.GetInput(), &in)
			text = "superseded by " + in.By
		}
		return Event{Kind: EventSignal, Name: a.GetSignalName(), Identity: a.GetIdentity(), Text: text}, true

	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		return t.stage(e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes())

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		var res workflows.ReleaseResult
		t.decode(e.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &res)
		if res.State == "" {
			res.State = workflows.StateSucceeded
		}
		return outcomeEvent(res.State, res.Reason), true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		f := e.GetWorkflowExecutionFailedEventAttributes().GetFailure()
		info := f.GetApplicationFailureInfo()
		var res workflows.ReleaseResult
		t.decode(info.GetDetails(), &res)
		if res.State == "" {
			res.State = stateOfErrType(info.GetType())
		}
		if res.Reason == "" {
			res.Reason = f.GetMessage()
		}
		return outcomeEvent(res.State, res.Reason), true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		a := e.GetWorkflowExecutionTerminatedEventAttributes()
		ev := outcomeEvent(workflows.StateFailed, "terminated by "+a.GetIdentity())
		if a.GetReason() != "" {
			ev.Text += fmt.Sprintf(": %q", a.GetReason())
			ev.Reason += ": " + a.GetReason()
		}
		ev.Identity = a.GetIdentity()
		return ev, true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
		a := e.GetWorkflowExecutionCancelRequestedEventAttributes()
		text := "cancel requested by " + a.GetIdentity()
		if a.GetCause() != "" {
			text += fmt.Sprintf(": %q", a.GetCause())
		}
		return Event{Kind: EventCancelRequest, Name: "cancel", Identity: a.GetIdentity(), Reason: a.GetCause(), Text: text}, true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		return outcomeEvent(workflows.StateAborted, "canceled"), true

	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		return outcomeEvent(workflows.StateFailed, "timed out"), true
	}
	return Event{}, false
}

func (t *timeline) decode(p *commonpb.Payloads, v any) {
	if len(p.GetPayloads()) > 0 {
		// A payload this build cannot read leaves v partly empty; the timeline still shows the event.
		_ = t.dc.FromPayload(p.GetPayloads()[0], v)
	}
}

// summary is the human summary the workflow attached to a timer or activity, if any.
func (t *timeline) summary(e *historypb.HistoryEvent) string {
	var s string
	if p := e.GetUserMetadata().GetSummary(); p != nil {
		_ = t.dc.FromPayload(p, &s)
	}
	return s
}

func (t *timeline) activityFailed(scheduledID int64, f *failurepb.Failure) (Event, bool) {
	ev := t.scheduled[scheduledID]
	ev.Failed, ev.Reason = true, f.GetMessage()
	ev.Text += ": failed " + f.GetMessage()
	return ev, ev.Name != ""
}

// stage reads the release's progress from upserted search attributes.
func (t *timeline) stage(sa *commonpb.SearchAttributes) (Event, bool) {
	keyword := keywords(sa, t.dc)
	env, stage, state := keyword(workflows.SearchAttrEnvironment), keyword(workflows.SearchAttrStage), keyword(workflows.SearchAttrState)
	if stage == "" && state == "" {
		return Event{}, false
	}
	text := strings.Join(nonEmpty(env, stage), " ")
	if state != "" && state != workflows.StateRunning {
		text = strings.Join(nonEmpty(text, "state "+state), ", ")
	}
	return Event{Kind: EventStage, Name: stage, Env: env, Text: text}, true
}

// activityEvent describes a scheduled activity by its key inputs; one without them (such as the lock request)
// by the summary the workflow gave it.
func activityEvent(name string, in activityArgs, summary string) Event {
	v := in.Vars
	ev := Event{Kind: EventActivity, Name: name, Env: v.Env, Track: v.Track}
	var parts []string
	switch name {
	case actRunCheck:
		parts = nonEmpty(in.Check.Name, v.Env, kv("track", v.Track))
	case actMeasure:
		parts = nonEmpty(in.Name, v.Env, kv("track", v.Track))
	case actSetWeight:
		ev.Weight = v.Weight
		parts = nonEmpty(v.Env, kv("track", v.Track), fmt.Sprintf("weight %d%%", v.Weight))
	case actRollback:
		parts = nonEmpty(v.Env, kv("to", v.StableVersion))
	case actBuild:
		parts = nonEmpty(in.Repository+":"+in.Version, kv("git sha", in.GitSHA))
	case actResolve:
		parts = nonEmpty(in.Image)
	case actConfig:
		ev.Env = in.Env
		parts = nonEmpty(in.Env)
	default:
		parts = nonEmpty(v.Env, kv("track", v.Track), kv("version", v.Version))
	}
	if len(parts) == 0 && summary != "" {
		parts = []string{summary}
	}
	ev.Text = strings.Join(append([]string{name}, parts...), " ")
	return ev
}

func outcomeEvent(state, reason string) Event {
	text := "release " + strings.ReplaceAll(state, "_", " ")
	if reason != "" {
		text += ": " + reason
	}
	return Event{Kind: EventOutcome, Name: state, Reason: reason, Text: text}
}

func kv(k, v string) string {
	if v == "" {
		return ""
	}
	return k + " " + v
}

func flag(name string, set bool) string {
	if set {
		return name
	}
	return ""
}

func nonEmpty(ss ...string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
