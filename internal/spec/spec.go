// Package spec is the typed form of ferry.yaml: parsing, defaults and validation.
//
// Load and Parse read ferry.yaml, apply defaults and validate, reporting every problem with its line; Validate
// re-checks a Spec that arrived another way (workflow input, or built in Go after ApplyDefaults).
//
// A Spec travels inside workflow input, so it holds only references (never secret values) and every field
// serialises to JSON. Durations are plain time.Duration values in JSON and "5m"-style strings in YAML.
package spec

import (
	"strings"
	"time"
)

// Strategy types.
const (
	StrategyRecreate  = "recreate"
	StrategyRolling   = "rolling"
	StrategyBlueGreen = "blue-green"
	StrategyCanary    = "canary"
)

// Spec is one service's release declaration (ferry.yaml).
type Spec struct {
	// Service names the service; it is part of every workflow ID. Lower-case letters, digits and '-'.
	Service string `yaml:"service" json:"service"`
	// Image says where the artifact lives. The Docker build is optional; without it `ferry start --image`
	// or Repository:version is the artifact.
	Image Image `yaml:"image" json:"image"`
	// Platform is how Ferry acts on the world for this service.
	Platform Platform `yaml:"platform" json:"platform"`
	// Environments run in order: each must succeed before the next starts.
	Environments []Environment `yaml:"environments" json:"environments"`
	// Migrations are the service's expand-contract migrations on PostgreSQL.
	Migrations []Migration `yaml:"migrations,omitempty" json:"migrations,omitempty"`
	// Requires names the migrations this version needs: each one's expand runs in an environment before the
	// version deploys there, and its backfill once the version serves 100 % there.
	Requires []string `yaml:"requires,omitempty" json:"requires,omitempty"`
	// Completes names the migrations whose old shape this version no longer reads. Once a release of it serves
	// 100 % in every environment, the migration's contract may run (after its minAge and approval).
	Completes []string `yaml:"completes,omitempty" json:"completes,omitempty"`
	// Metrics are the measurements analysis and verification may reference by name.
	Metrics map[string]Metric `yaml:"metrics,omitempty" json:"metrics,omitempty"`
}

// Image locates the artifact.
type Image struct {
	// Repository is the image name without tag or digest (registry.example.com/checkout). Required.
	Repository string `yaml:"repository" json:"repository"`
	// Build, if set, builds the image from source. An empty `build: {}` uses the defaults.
	Build *Build `yaml:"build,omitempty" json:"build,omitempty"`
}

// Build is a Docker build of the artifact.
type Build struct {
	// Context is the build context directory. Default ".".
	Context string `yaml:"context" json:"context"`
	// Dockerfile is the Dockerfile's path in the context. Default "Dockerfile".
	Dockerfile string `yaml:"dockerfile" json:"dockerfile"`
}

// Platform selects and configures the platform. Exactly one of its members is set.
type Platform struct {
	Exec   *ExecPlatform   `yaml:"exec,omitempty" json:"exec,omitempty"`
	Docker *DockerPlatform `yaml:"docker,omitempty" json:"docker,omitempty"`
}

// ExecPlatform runs user commands for each platform operation. Every command is an argv list; each element is
// a Go text/template over the variables of activities.TemplateVars (e.g. "{{.Image}}"), and validation
// rejects any other variable. Commands also get FERRY_* environment variables. Deploy is always required;
// SetWeight, Promote and Remove are required when an environment uses canary or blue-green, Rollback when one
// uses recreate or rolling.
type ExecPlatform struct {
	// Deploy starts the version's replica set on a track (stable for recreate/rolling, canary, preview).
	Deploy []string `yaml:"deploy" json:"deploy"`
	// SetWeight routes Weight percent of traffic to the track; 0 means 100 % stable.
	SetWeight []string `yaml:"setWeight,omitempty" json:"setWeight,omitempty"`
	// Promote makes the track's version the stable one.
	Promote []string `yaml:"promote,omitempty" json:"promote,omitempty"`
	// Rollback restores StableVersion on the stable track (recreate/rolling).
	Rollback []string `yaml:"rollback,omitempty" json:"rollback,omitempty"`
	// Remove deletes a version's replica set from a track.
	Remove []string `yaml:"remove,omitempty" json:"remove,omitempty"`
	// Ready exits 0 once the track's replicas are ready. Optional; polled until ReadyTimeout.
	Ready []string `yaml:"ready,omitempty" json:"ready,omitempty"`
	// Current prints the version that serves the stable track now (its last non-empty output line), or
	// nothing when none runs. Optional: without it, and without a stable version known to Ferry, a release
	// never guesses what to remove.
	Current []string `yaml:"current,omitempty" json:"current,omitempty"`
	// Dir is the working directory for commands, relative to the spec file. Default: the spec's directory.
	// Load turns it into an absolute path for checks on the machine that reads the spec; RelativeDir turns it
	// back into the relative form a release carries, which the worker resolves against its exec root.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Timeout bounds one command. Default 5m.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// ReadyTimeout bounds the readiness wait. Default 10m.
	ReadyTimeout Duration `yaml:"readyTimeout,omitempty" json:"readyTimeout,omitempty"`
}

// Environment is one stage of the pipeline (staging, production, ...).
type Environment struct {
	// Name is unique within the spec. Lower-case letters, digits and '-'.
	Name string `yaml:"name" json:"name"`
	// Gate must open before anything is deployed. Default auto.
	Gate Gate `yaml:"gate,omitempty" json:"gate"`
	// Replicas of the service in this environment. Default 1.
	Replicas int `yaml:"replicas,omitempty" json:"replicas"`
	// Strategy says how the new version replaces the old one. Default rolling.
	Strategy Strategy `yaml:"strategy,omitempty" json:"strategy"`
	// Config is plain configuration, handed to the platform as environment variables: to exec commands as
	// FERRY_CONFIG_<KEY> (see ConfigEnvName), to Docker containers under the key's own name.
	Config map[string]string `yaml:"config,omitempty" json:"config,omitempty"`
	// Secrets maps an environment variable name to a secret reference, "vault:<mount>/<path>#<key>" (see
	// SecretRef). The worker resolves the references inside the activities that start a version (deploy,
	// promote, rollback) and hands the values to the platform under the variable's own name, never in argv; the
	// spec and workflow input hold only the references. A name is not also a config key and does not start
	// with FERRY_.
	Secrets map[string]string `yaml:"secrets,omitempty" json:"secrets,omitempty"`
	// URL is the base URL of the environment, used by http checks with a relative path. Templated.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Checks run once the new version serves traffic.
	Checks Checks `yaml:"checks,omitempty" json:"checks"`
	// Verify, if set, watches the new version for a while after it serves all traffic.
	Verify *Verify `yaml:"verify,omitempty" json:"verify,omitempty"`
}

// Gate is what must hold before an environment deploys: nothing (auto), an approval, a deploy window, or both
// (approval first, then the window). In YAML, `gate: auto` is the scalar form.
type Gate struct {
	// Auto opens the gate at once. Defaults set it when neither Approval nor Window is set, and only then.
	Auto bool `yaml:"-" json:"auto,omitempty"`
	// Approval waits for people to approve with `ferry approve`.
	Approval *Approval `yaml:"approval,omitempty" json:"approval,omitempty"`
	// Window waits for the next allowed time.
	Window *Window `yaml:"window,omitempty" json:"window,omitempty"`
}

// Approval waits for Quorum distinct approvers. An empty Approvers list lets anyone approve.
type Approval struct {
	// Approvers are the identities allowed to approve, each listed once.
	Approvers []string `yaml:"approvers,omitempty" json:"approvers,omitempty"`
	// Quorum is how many distinct identities must approve: 1..len(Approvers) when Approvers is set. Default 1.
	Quorum int `yaml:"quorum,omitempty" json:"quorum"`
}

// Window is a recurring deploy window with blackout periods.
type Window struct {
	// Days are lower-case three-letter weekdays (mon..sun). Default every day.
	Days []string `yaml:"days,omitempty" json:"days,omitempty"`
	// Hours is "HH:MM-HH:MM" in Timezone, end exclusive (see ParseHours). Default the whole day.
	Hours string `yaml:"hours,omitempty" json:"hours,omitempty"`
	// Timezone is an IANA name. Default UTC.
	Timezone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	// Blackout periods are "YYYY-MM-DD/YYYY-MM-DD", both days inclusive, in Timezone (see ParseBlackout).
	Blackout []string `yaml:"blackout,omitempty" json:"blackout,omitempty"`
}

// Strategy says how the new version replaces the old one.
type Strategy struct {
	// Type is recreate, rolling, blue-green or canary. Default rolling.
	Type string `yaml:"type" json:"type"`
	// MaxUnavailable and MaxSurge tune rolling (passed to the platform). Defaults 1 and 1.
	MaxUnavailable int `yaml:"maxUnavailable,omitempty" json:"maxUnavailable,omitempty"`
	MaxSurge       int `yaml:"maxSurge,omitempty" json:"maxSurge,omitempty"`
	// ScaleDownDelay keeps the old blue-green set after the switch. Default 30s.
	ScaleDownDelay Duration `yaml:"scaleDownDelay,omitempty" json:"scaleDownDelay,omitempty"`
	// Steps of a canary. The last step must reach weight 100 (added if missing).
	Steps []Step `yaml:"steps,omitempty" json:"steps,omitempty"`
	// Analysis runs during every canary bake and after the blue-green switch.
	Analysis *Analysis `yaml:"analysis,omitempty" json:"analysis,omitempty"`
}

// Step is one canary step: a traffic weight held for a bake period, or a pause for a human.
type Step struct {
	// Weight is the percent of traffic to the new version, 1..100.
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// Bake is how long the weight is held (with analysis running) before the next step.
	Bake Duration `yaml:"bake,omitempty" json:"bake,omitempty"`
	// Pause waits for `ferry resume` or `ferry promote` (or Duration, if set).
	Pause *Pause `yaml:"pause,omitempty" json:"pause,omitempty"`
}

// Pause holds the canary. A zero Duration waits for a human.
type Pause struct {
	Duration Duration `yaml:"duration,omitempty" json:"duration,omitempty"`
}

// Analysis evaluates checks and metrics every Interval; more than FailureLimit failures roll back.
type Analysis struct {
	// Interval between runs. Default 1m.
	Interval Duration `yaml:"interval,omitempty" json:"interval"`
	// FailureLimit is how many failed runs (of the checks, or of one metric) are tolerated. Default 0.
	FailureLimit int `yaml:"failureLimit,omitempty" json:"failureLimit"`
	// Checks run on every interval. At least one check or one metric.
	Checks         []Check `yaml:"checks" json:"checks"`
	MetricAnalysis `yaml:",inline"`
}

// MetricAnalysis is how analysis and verification measure the spec's metrics, with Argo Rollouts' meaning
// for each limit. Its fields sit beside the checks in YAML.
type MetricAnalysis struct {
	// Metrics name entries of the spec's metrics, measured every interval.
	Metrics []string `yaml:"metrics,omitempty" json:"metrics,omitempty"`
	// DryRun names metrics among Metrics that are measured and shown but never fail or pause a release.
	DryRun []string `yaml:"dryRun,omitempty" json:"dryRun,omitempty"`
	// InitialDelay is how long after a weight change (or the start of verification) metrics wait before
	// their first measurement, so that the new version's data fills the query's window: make it at least the
	// window's range, or rates mix traffic from before the change.
	InitialDelay Duration `yaml:"initialDelay,omitempty" json:"initialDelay,omitempty"`
	// Count bounds the measurements of each metric per step (0: as many as the intervals allow).
	Count int `yaml:"count,omitempty" json:"count,omitempty"`
	// InconclusiveLimit is how many inconclusive measurements of one metric are tolerated; one more pauses
	// the release for a human to resume or abort. Default 0.
	InconclusiveLimit int `yaml:"inconclusiveLimit,omitempty" json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many measurements of one metric in a row may fail to run (an
	// unreachable Prometheus, a bad query); one more fails the step. Default 4.
	ConsecutiveErrorLimit int `yaml:"consecutiveErrorLimit,omitempty" json:"consecutiveErrorLimit,omitempty"`
	// Score sets the thresholds of the score of baseline comparisons.
	Score *Score `yaml:"score,omitempty" json:"score,omitempty"`
	// OnNoEvidence is what happens when a bake, a blue-green watch or a verification window ends without one
	// judged (successful or failed) measurement of a metric that is not in dry run: fail (default; the step
	// fails and the release rolls back) or pause (for a person to resume or abort).
	OnNoEvidence string `yaml:"onNoEvidence,omitempty" json:"onNoEvidence,omitempty"`
}

// Score holds the thresholds of a round's 0..100 score over its baseline comparisons, the way Kayenta
// judges: at least Pass passes, at least Marginal is inconclusive, below it fails.
type Score struct {
	// Pass is the lowest passing score. Default 95.
	Pass float64 `yaml:"pass,omitempty" json:"pass"`
	// Marginal is the lowest inconclusive score. Default 75.
	Marginal float64 `yaml:"marginal,omitempty" json:"marginal"`
}

// Metric kinds and comparisons.
const (
	// MetricValue judges the query's value against thresholds.
	MetricValue = "value"
	// MetricThroughput compares the new version's requests per second per instance with the baseline's.
	MetricThroughput = "throughput"
	// CompareBaseline compares the new version's samples with the baseline's with a Mann-Whitney U test.
	CompareBaseline = "baseline"
	// OnErrorError and OnErrorInconclusive are what a measurement that fails to run counts as.
	OnErrorError        = "error"
	OnErrorInconclusive = "inconclusive"
	// OnNoEvidenceFail and OnNoEvidencePause are what a window without a judged measurement does.
	OnNoEvidenceFail  = "fail"
	OnNoEvidencePause = "pause"
)

// Metric is one named measurement, a Prometheus query and how to judge its result.
type Metric struct {
	// Query is a PromQL expression, a Go template over .Service, .Env, .Version, .Track, .Interval (the
	// analysis interval in PromQL form, such as 1m) and .Step (one sample's span: a twelfth of the interval
	// in a baseline comparison, the interval elsewhere). Select the version as well as the track: a canary
	// rolled back moments before leaves its series on the track inside the window.
	Query string `yaml:"query" json:"query"`
	// Kind is value (default) or throughput.
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Min and Max bound a passing value.
	Min *float64 `yaml:"min,omitempty" json:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty" json:"max,omitempty"`
	// SuccessCondition and FailureCondition are expressions over result (the value; result[0] also works)
	// with the syntax of github.com/expr-lang/expr, such as "result < 0.01". A value that meets neither when
	// both are set is inconclusive.
	SuccessCondition string `yaml:"successCondition,omitempty" json:"successCondition,omitempty"`
	FailureCondition string `yaml:"failureCondition,omitempty" json:"failureCondition,omitempty"`
	// Compare, when "baseline", compares the new version's samples over the interval with the stable
	// version's, instead of judging a value. Its query should range over [{{.Step}}], one sample's span, so
	// that its samples share no data.
	Compare string `yaml:"compare,omitempty" json:"compare,omitempty"`
	// Direction is the change that fails a comparison: increase (default), decrease or either.
	Direction string `yaml:"direction,omitempty" json:"direction,omitempty"`
	// Tolerance is the relative change a comparison allows: 0.1 lets the new version be 10 % worse. Default
	// 0 for baseline comparisons, 0.5 for throughput.
	Tolerance float64 `yaml:"tolerance,omitempty" json:"tolerance,omitempty"`
	// Confidence is the confidence level of a comparison's one-sided rank tests, 0.5..0.9999. Default 0.95.
	Confidence float64 `yaml:"confidence,omitempty" json:"confidence,omitempty"`
	// Critical makes a failed comparison fail the round whatever the score.
	Critical bool `yaml:"critical,omitempty" json:"critical,omitempty"`
	// DryRun measures and shows the metric everywhere it is referenced but never lets it fail a release.
	DryRun bool `yaml:"dryRun,omitempty" json:"dryRun,omitempty"`
	// OnError is what a measurement that fails to run counts as: error (default, limited by
	// consecutiveErrorLimit) or inconclusive.
	OnError string `yaml:"onError,omitempty" json:"onError,omitempty"`
}

// Checks run once the new version serves traffic: smoke first, then e2e.
type Checks struct {
	// Smoke checks are quick probes that the new version is up.
	Smoke []Check `yaml:"smoke,omitempty" json:"smoke,omitempty"`
	// E2E checks exercise the service end to end, after the smoke checks pass.
	E2E []Check `yaml:"e2e,omitempty" json:"e2e,omitempty"`
}

// Check is one probe. Exactly one of HTTP and Exec is set.
type Check struct {
	// Name shows in status and history. Default derived from the probe ("http GET /healthz", or the argv),
	// at most 60 characters.
	Name string     `yaml:"name,omitempty" json:"name,omitempty"`
	HTTP *HTTPCheck `yaml:"http,omitempty" json:"http,omitempty"`
	// Exec is an argv list, templated like platform commands; exit 0 passes.
	Exec []string `yaml:"exec,omitempty" json:"exec,omitempty"`
	// Timeout bounds one run. Default 30s.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// HTTPCheck passes when a GET returns Status and, if set, a body matching the Body regular expression.
type HTTPCheck struct {
	// URL is absolute, or Path is joined to the environment's URL. Exactly one is set. Templated.
	URL  string `yaml:"url,omitempty" json:"url,omitempty"`
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Status is the expected status code. Default 200.
	Status int `yaml:"status,omitempty" json:"status"`
	// Body is a regular expression the response body must match.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
}

// Verify watches the new version after it serves all traffic, before the release is final.
type Verify struct {
	// Window is how long verification lasts.
	Window Duration `yaml:"window" json:"window"`
	// Interval between check runs, at most Window. Default 1m (or Window, if shorter).
	Interval Duration `yaml:"interval,omitempty" json:"interval"`
	// Checks run on every interval. At least one check or one metric.
	Checks         []Check `yaml:"checks" json:"checks"`
	MetricAnalysis `yaml:",inline"`
}

// Duration is a time.Duration written as "90s" or "5m" in YAML (time.ParseDuration; never negative) and as
// nanoseconds in JSON.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats like time.Duration, without trailing zero units ("5m", not "5m0s").
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// FormatDuration renders d compactly: 5m, 1h30m, 90ms.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Env returns the environment with the given name.
func (s *Spec) Env(name string) (*Environment, bool) {
	for i := range s.Environments {
		if s.Environments[i].Name == name {
			return &s.Environments[i], true
		}
	}
	return nil, false
}
