// Package workflows holds Ferry's deterministic orchestration: the Release workflow, its strategies and gates,
// and the EnvLock workflow that serialises deploys per service and environment.
//
// Everything here runs inside the Temporal workflow sandbox: it uses workflow.* primitives only (no time.Now,
// goroutines, map iteration for output, or I/O). determinism_test.go guards that.
package workflows

import (
	"strings"
	"time"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/spec"
)

// Registered names. They are part of recorded histories: never rename them.
const (
	ReleaseWorkflow  = "Release"
	EnvLockWorkflow  = "EnvLock"
	ContractWorkflow = "Contract"

	QueryStatus = "status"
	QueryLock   = "lock"

	UpdateApprove = "approve"
	UpdateAbort   = "abort"
	UpdatePause   = "pause"
	UpdateResume  = "resume"
	UpdatePromote = "promote"
	// UpdateBackfill pauses, resumes or resizes the running backfill of a release.
	UpdateBackfill = "backfill"
	// UpdateApproveContract approves the contract of a migration (Contract workflow).
	UpdateApproveContract = "approve-contract"
	// QueryContract answers the Contract workflow's ContractStatus.
	QueryContract = "contract"

	// Signals to a Contract workflow, sent by releases through signal-with-start.
	SignalContractExpanded  = "contract-expanded"
	SignalContractCompleted = "contract-completed"

	// Signals between Release and EnvLock workflows.
	SignalLockAcquire = "lock-acquire"
	SignalLockStage   = "lock-stage"
	SignalLockRelease = "lock-release"
	SignalLockGranted = "lock-granted"
	SignalSuperseded  = "superseded"
	// SignalLockAdopt seeds the stable version of an environment Ferry did not deploy (ferry adopt).
	SignalLockAdopt = "lock-adopt"
)

// Release states: the FerryState search attribute and Status.State.
const (
	StateRunning    = "running"
	StateSucceeded  = "succeeded"
	StateFailed     = "failed"
	StateAborted    = "aborted"
	StateRolledBack = "rolled_back"
	StateSuperseded = "superseded"
)

// Stages: the FerryStage search attribute and Status.Stage.
const (
	StageBuild     = "build"
	StageLock      = "lock"
	StageGate      = "gate"
	StageDeploy    = "deploy"
	StageReady     = "ready"
	StageSmoke     = "smoke"
	StageCanary    = "canary"
	StageSwitch    = "switch"
	StageE2E       = "e2e"
	StageVerify    = "verify"
	StagePromote   = "promote"
	StageScaleDown = "scale-down"
	StageRollback  = "rollback"
	StageDone      = "done"
	// StageExpand runs the expand of the migrations the version requires, before it deploys.
	StageExpand = "expand"
	// StageBackfill runs their backfills, once the version serves 100 %.
	StageBackfill = "backfill"
)

// Tracks a version's replica set can run on.
const (
	TrackStable   = "stable"
	TrackCanary   = "canary"
	TrackPreview  = "preview"
	TrackPrevious = "previous"
)

// Error types carried by a failed Release workflow (temporal.ApplicationError.Type). Details hold the ReleaseResult.
const (
	ErrTypeRolledBack = "ReleaseRolledBack"
	ErrTypeAborted    = "ReleaseAborted"
	ErrTypeFailed     = "ReleaseFailed"
	ErrTypeInvalid    = activities.ErrTypeInvalidSpec
)

// ReleaseInput starts a Release workflow. It carries references only, never secret values.
type ReleaseInput struct {
	Spec    spec.Spec `json:"spec"`
	Version string    `json:"version"`
	GitSHA  string    `json:"gitSha"`
	// CommitTime is when the change was committed. Optional. It orders releases at the environment locks (a
	// release committed earlier never supersedes one committed later), and the downgrade check falls back to
	// it when versions are not semver.
	CommitTime time.Time `json:"commitTime,omitzero"`
	// AllowDowngrade lets the release deploy to an environment whose stable version is newer than Version
	// (see checkDowngrade). Without it such an environment fails the release before anything runs there.
	AllowDowngrade bool `json:"allowDowngrade,omitempty"`
	// Image is the artifact reference. Empty means Spec.Image.Repository:Version. When the release pins a
	// digest (see pinsDigest), Image skips the build and is resolved to the digest its registry serves.
	Image string `json:"image,omitempty"`
	// StartedBy is the identity that started the release.
	StartedBy string `json:"startedBy,omitempty"`
	// Resume is set only by the release itself when it continues as new between environments: the new run
	// starts at Resume.NextEnv with the progress so far. A release started from outside leaves it nil.
	Resume *ReleaseProgress `json:"resume,omitempty"`
	// MigrationDigests pins the SQL the release runs: the hex SHA-256 of each migration file as `ferry start`
	// read it, keyed by MigrationDigestKey (the expand, and the contract if there is one). The migration
	// activities refuse a file on the worker whose bytes differ. Nil in releases started before digests were
	// pinned: their files run as the worker finds them.
	MigrationDigests map[string]string `json:"migrationDigests,omitempty"`
}

// Phases of MigrationDigestKey.
const (
	DigestExpand   = "expand"
	DigestContract = "contract"
)

// MigrationDigestKey keys ReleaseInput.MigrationDigests: the migration's name and the phase, DigestExpand or
// DigestContract, as "add-email-verified/expand".
func MigrationDigestKey(migration, phase string) string {
	return migration + "/" + phase
}

// ReleaseProgress is what a Release carries into its next run when it continues as new between
// environments.
type ReleaseProgress struct {
	// NextEnv is the index in Spec.Environments of the environment the new run starts with.
	NextEnv int `json:"nextEnv"`
	// Status is the release's status when the previous run ended: the environments so far, the decisions,
	// the image and the release's original start time.
	Status Status `json:"status"`
}

// ReleaseResult is the outcome of a release. A failed, rolled back or aborted release also returns it as the
// details of an ApplicationError, so the Temporal UI shows the workflow as failed.
type ReleaseResult struct {
	Service string `json:"service"`
	Version string `json:"version"`
	Image   string `json:"image"`
	// Digest is the image's pinned digest, when the release pinned one.
	Digest       string      `json:"digest,omitempty"`
	State        string      `json:"state"`
	Reason       string      `json:"reason,omitempty"`
	Environments []EnvStatus `json:"environments"`
}

// EnvStatus is one environment's progress within a release.
type EnvStatus struct {
	Name     string    `json:"name"`
	State    string    `json:"state"` // pending, running, or a release state
	Reason   string    `json:"reason,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// ConfigHash is the salted hash of the configuration the environment was deployed with, config and
	// resolved secrets (activities.ConfigHash): equal within a release for the same configuration, and no
	// value can be read from it. Empty for releases that started before configChange.
	ConfigHash string `json:"configHash,omitempty"`
	// Engine is the ID of the Docker engine that runs the environment's containers, to which the release bound
	// its Docker activities there (see bindEngine); empty on other platforms and for releases that started
	// before engineChange.
	Engine string `json:"engine,omitempty"`
}

// Status answers QueryStatus: where the release is and what it waits for.
type Status struct {
	Service string `json:"service"`
	Version string `json:"version"`
	GitSHA  string `json:"gitSha"`
	// Image is the reference every environment deploys: "<repository>@sha256:..." once the release pinned
	// its digest, and the artifact's tag before that or when it pins none.
	Image string `json:"image"`
	// ImageTag is the artifact by tag once Image is pinned (--image as given, or repository:version).
	ImageTag string `json:"imageTag,omitempty"`
	// Digest is the pinned digest ("sha256:..."), recorded once before the first environment: the one digest
	// every environment deploys. Empty when the release pins none.
	Digest   string `json:"digest,omitempty"`
	State    string `json:"state"`
	Env      string `json:"env,omitempty"`
	Stage    string `json:"stage"`
	Strategy string `json:"strategy,omitempty"`
	// Step is the 1-based canary step; Steps the step count.
	Step   int `json:"step,omitempty"`
	Steps  int `json:"steps,omitempty"`
	Weight int `json:"weight"`
	// BakeUntil is when the current bake ends (zero when not baking); BakeTotal its length.
	BakeUntil time.Time     `json:"bakeUntil,omitzero"`
	BakeTotal time.Duration `json:"bakeTotal,omitempty"`
	Paused    bool          `json:"paused,omitempty"`
	// Waiting says in words what the release waits for, when it waits for something outside itself.
	Waiting string `json:"waiting,omitempty"`
	// Approvals received at the current gate.
	Approvals        []Decision   `json:"approvals,omitempty"`
	LastCheck        *CheckStatus `json:"lastCheck,omitempty"`
	AnalysisFailures int          `json:"analysisFailures,omitempty"`
	// Measurements are the latest measurement of each metric in Env, by analysis and by verification.
	Measurements []MeasurementStatus `json:"measurements,omitempty"`
	// Score is the latest score of the baseline comparisons in Env.
	Score        *ScoreStatus `json:"score,omitempty"`
	Environments []EnvStatus  `json:"environments"`
	Decisions    []Decision   `json:"decisions,omitempty"`
	// Backfill is the backfill under way in Env, or the last one that ran. Its Progress is as of its last start
	// or pause; starter.StatusOf fills in the running activity's latest heartbeat.
	Backfill  *BackfillStatus `json:"backfill,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	StartedAt time.Time       `json:"startedAt,omitzero"`
	UpdatedAt time.Time       `json:"updatedAt,omitzero"`
}

// BackfillStatus is a backfill of a release in an environment.
type BackfillStatus struct {
	Migration string `json:"migration"`
	Env       string `json:"env"`
	// State is running, paused, done or failed.
	State       string                      `json:"state"`
	BatchTarget time.Duration               `json:"batchTarget,omitempty"`
	Progress    activities.BackfillProgress `json:"progress"`
	PausedBy    string                      `json:"pausedBy,omitempty"`
}

// BackfillInput is the UpdateBackfill argument: Action is pause, resume or resize (with BatchTarget).
type BackfillInput struct {
	Action      string        `json:"action"`
	BatchTarget time.Duration `json:"batchTarget,omitempty"`
	Identity    string        `json:"identity"`
	Reason      string        `json:"reason,omitempty"`
}

// ContractInput starts (or continues) the Contract workflow of one migration.
type ContractInput struct {
	Service   string         `json:"service"`
	Migration spec.Migration `json:"migration"`
	// Environments are the service's environments in order: the contract runs on each one's database, and no
	// older version may run in any of them.
	Environments []string      `json:"environments"`
	Platform     spec.Platform `json:"platform"`
	// ExpandedAt is when the expand first ran; minAge counts from it.
	ExpandedAt time.Time `json:"expandedAt"`
	// State is carried across continue-as-new.
	State *ContractState `json:"state,omitempty"`
}

// ContractState is where a Contract workflow stands.
type ContractState struct {
	// CompletedBy is the version that completed the migration and served 100 % in every environment.
	CompletedBy string    `json:"completedBy,omitempty"`
	CommitTime  time.Time `json:"commitTime,omitzero"`
	CompletedAt time.Time `json:"completedAt,omitzero"`
	// ContractDigest is the contract file's SHA-256 that the release of CompletedBy pinned; empty if it
	// pinned none (see ContractSignal.ContractDigest).
	ContractDigest string     `json:"contractDigest,omitempty"`
	Approvals      []Decision `json:"approvals,omitempty"`
	// OldGone is set once no environment runs a version older than CompletedBy, or (since contractOrderChange)
	// one that cannot be proved no older.
	OldGone bool `json:"oldGone,omitempty"`
	// BackfillDone is set once every environment's database records the migration's backfill finished
	// (since contractBackfillChange; always false for a migration without a backfill).
	BackfillDone bool `json:"backfillDone,omitempty"`
	// Checks counts the platform checks of this run, for continue-as-new.
	Checks int `json:"checks,omitempty"`
}

// ContractSignal is SignalContractExpanded and SignalContractCompleted.
type ContractSignal struct {
	Version    string    `json:"version"`
	CommitTime time.Time `json:"commitTime,omitzero"`
	// Service is the service of the release that sends it. A Contract workflow ignores a signal of another
	// service; signals of releases begun before migrationServiceChange have none, and count.
	Service string `json:"service,omitempty"`
	// ContractDigest is the SHA-256 the sending release pinned for the contract file (see
	// ReleaseInput.MigrationDigests); the contract runs the file only while its bytes match the one of the
	// release that completed the migration. Empty from releases that pinned none.
	ContractDigest string `json:"contractDigest,omitempty"`
}

// ContractStatus answers QueryContract.
type ContractStatus struct {
	Service   string `json:"service"`
	Migration string `json:"migration"`
	Database  string `json:"database"`
	// Phase is waiting, contracting, contracted or failed.
	Phase      string        `json:"phase"`
	Waiting    []string      `json:"waiting,omitempty"`
	ExpandedAt time.Time     `json:"expandedAt"`
	NotBefore  time.Time     `json:"notBefore,omitzero"`
	State      ContractState `json:"state"`
	// Result is set once the contract ran.
	Result *activities.ContractDone `json:"result,omitempty"`
	// WorkflowID is the Contract workflow's ID. The workflow leaves it empty; the client fills it in.
	WorkflowID string `json:"workflowId,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Backfills are the backfills of this migration that running releases run or hold paused. The Contract
	// workflow leaves it empty; the client fills it in from the releases' statuses.
	Backfills []ReleaseBackfill `json:"backfills,omitempty"`
}

// ReleaseBackfill is the backfill one release runs.
type ReleaseBackfill struct {
	Version string `json:"version"`
	BackfillStatus
}

// ContractApproveInput is the UpdateApproveContract argument.
type ContractApproveInput struct {
	Identity string `json:"identity"`
	Reason   string `json:"reason,omitempty"`
}

// ContractWorkflowID is the ID of the Contract workflow of a service's migration of a database. Releases
// begun before migrationServiceChange used LegacyContractWorkflowID, without the service; a release signals a
// Contract workflow by that ID still, when it is its service's (see release.signalContract).
func ContractWorkflowID(service, database, migration string) string {
	return "ferry-contract/" + service + "/" + database + "/" + migration
}

// LegacyContractWorkflowID is the ID of the Contract workflow of a migration of a database, as releases
// begun before migrationServiceChange named it: two services with a migration of one name in one database
// shared it.
func LegacyContractWorkflowID(database, migration string) string {
	return "ferry-contract/" + database + "/" + migration
}

// ParseContractWorkflowID reads a Contract workflow ID of either form; service is empty for a legacy one.
func ParseContractWorkflowID(id string) (service, database, migration string, ok bool) {
	parts := strings.Split(id, "/")
	switch {
	case len(parts) == 4 && parts[0] == "ferry-contract":
		return parts[1], parts[2], parts[3], true
	case len(parts) == 3 && parts[0] == "ferry-contract":
		return "", parts[1], parts[2], true
	}
	return "", "", "", false
}

// CheckStatus is the latest check, analysis or verification result.
type CheckStatus struct {
	Name   string    `json:"name"`
	Kind   string    `json:"kind"` // smoke, e2e, analysis, verify
	Passed bool      `json:"passed"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// Decision is a human decision as recorded by the workflow.
type Decision struct {
	Action   string    `json:"action"`
	Env      string    `json:"env,omitempty"`
	Identity string    `json:"identity"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// ApproveInput is the UpdateApprove argument.
type ApproveInput struct {
	Env      string `json:"env"`
	Identity string `json:"identity"`
	Reason   string `json:"reason,omitempty"`
}

// AbortInput is the UpdateAbort argument. Reason is required.
type AbortInput struct {
	Identity string `json:"identity"`
	Reason   string `json:"reason"`
}

// PauseInput is the UpdatePause argument.
type PauseInput struct {
	Identity string `json:"identity"`
	Reason   string `json:"reason,omitempty"`
}

// ResumeInput is the UpdateResume argument.
type ResumeInput struct {
	Identity string `json:"identity"`
	Reason   string `json:"reason,omitempty"`
}

// PromoteInput is the UpdatePromote argument. Full skips every remaining step and analysis.
type PromoteInput struct {
	Identity string `json:"identity"`
	Reason   string `json:"reason,omitempty"`
	Full     bool   `json:"full,omitempty"`
}

// UpdateResult is returned by every accepted Update.
type UpdateResult struct {
	Message string `json:"message"`
}

// Artifact is a deployed version.
type Artifact struct {
	Version string `json:"version"`
	Image   string `json:"image"`
	// CommitTime is the version's commit time, when its release knew it.
	CommitTime time.Time `json:"commitTime,omitzero"`
	// DeployedAt is when the environment's lock learnt that this version serves it: set on the stable version
	// the lock hands out, zero for an adopted one and for versions the lock recorded before it kept the time.
	DeployedAt time.Time `json:"deployedAt,omitzero"`
	// Engine is the ID of the Docker engine the version runs on, when its release bound the environment to one:
	// the next release binds to that engine, or is refused. Empty for other platforms, an adopted version and
	// releases that started before engineChange.
	Engine string `json:"engine,omitempty"`
	// Settings are the environment's configuration and secret references that the version was released
	// with, so that a rollback restores them with it; nil when not recorded (an adopted version, or one
	// recorded before releases kept them).
	Settings *Settings `json:"settings,omitempty"`
}

// Settings are an environment's configuration and its secret references (never secret values).
type Settings struct {
	Config  map[string]string `json:"config,omitempty"`
	Secrets map[string]string `json:"secrets,omitempty"`
}

// LockInput starts (or continues) an EnvLock workflow.
type LockInput struct {
	Service string     `json:"service"`
	Env     string     `json:"env"`
	State   *LockState `json:"state,omitempty"`
	// SignalLimit is how many signals one run handles before it continues as new; zero means the default.
	// It is carried across continue-as-new. Tests lower it to exercise continue-as-new.
	SignalLimit int `json:"signalLimit,omitempty"`
}

// LockState is what an EnvLock carries across continue-as-new and returns from QueryLock.
type LockState struct {
	Holder *LockRequest   `json:"holder,omitempty"`
	AtGate bool           `json:"atGate,omitempty"`
	Queue  []*LockRequest `json:"queue,omitempty"`
	// Stable is the last version that completed in this environment.
	Stable *Artifact `json:"stable,omitempty"`
	// HolderCheckAt is when the lock next checks that its holder still runs (zero when no check is due: no
	// holder, or nobody waits). Carried across continue-as-new so a busy lock still checks on time.
	HolderCheckAt time.Time `json:"holderCheckAt,omitempty"`
}

// LockRequest is SignalLockAcquire: a release asks for the environment.
type LockRequest struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Version    string `json:"version"`
	// StartedAt orders releases that do not know their commit time: a later start is the newer release.
	StartedAt time.Time `json:"startedAt"`
	// CommitTime, when known, orders the release instead of StartedAt: a release committed later is the
	// newer one, however late an older one was started (see EnvLock).
	CommitTime time.Time `json:"commitTime,omitzero"`
}

// LockStageSignal is SignalLockStage: the holder reports whether it waits at the gate (and may be superseded).
type LockStageSignal struct {
	WorkflowID string `json:"workflowId"`
	AtGate     bool   `json:"atGate"`
}

// LockReleaseSignal is SignalLockRelease: the holder is done; Deployed is set when its version now runs there.
type LockReleaseSignal struct {
	WorkflowID string    `json:"workflowId"`
	Deployed   *Artifact `json:"deployed,omitempty"`
}

// LockGrantedSignal is SignalLockGranted, sent to the release that now holds the environment.
type LockGrantedSignal struct {
	Env    string    `json:"env"`
	Stable *Artifact `json:"stable,omitempty"`
}

// LockAdoptSignal is SignalLockAdopt: Stable is what serves the environment now, as a person says.
type LockAdoptSignal struct {
	Stable   Artifact `json:"stable"`
	Identity string   `json:"identity"`
	Reason   string   `json:"reason,omitempty"`
}

// SupersededSignal is SignalSuperseded, sent to a release that a newer one replaced.
type SupersededSignal struct {
	By string `json:"by"`
	// Reason says why By counts as newer, when that is not plain start order.
	Reason string `json:"reason,omitempty"`
}

// ReleaseWorkflowID is the ID of the release of a service version: one workflow per version.
func ReleaseWorkflowID(service, version string) string {
	return "ferry-release/" + service + "/" + version
}

// EnvLockWorkflowID is the ID of the lock of a service's environment.
func EnvLockWorkflowID(service, env string) string {
	return "ferry-env/" + service + "/" + env
}

// Search attribute names, registered by `ferry dev` (all Keyword).
const (
	SearchAttrService     = "FerryService"
	SearchAttrVersion     = "FerryVersion"
	SearchAttrEnvironment = "FerryEnvironment"
	SearchAttrStage       = "FerryStage"
	SearchAttrState       = "FerryState"
	// SearchAttrDigest is the release's pinned image digest, upserted once the release pinned one.
	SearchAttrDigest = "FerryDigest"
)

// SearchAttributes lists every attribute Ferry upserts; a server must have them registered as Keyword.
var SearchAttributes = []string{SearchAttrService, SearchAttrVersion, SearchAttrEnvironment, SearchAttrStage, SearchAttrState, SearchAttrDigest}
