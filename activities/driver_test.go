package activities

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/ferryhq/ferry/internal/spec"
)

// recordingDriver is a Driver that records the operations it runs and the requests it gets.
type recordingDriver struct {
	ops  []string
	reqs []PlatformRequest
}

var _ Driver = (*recordingDriver)(nil)

func (d *recordingDriver) record(op string, in PlatformRequest) error {
	d.ops = append(d.ops, op)
	d.reqs = append(d.reqs, in)
	return nil
}

func (d *recordingDriver) Deploy(_ context.Context, in PlatformRequest) error {
	return d.record("deploy", in)
}
func (d *recordingDriver) Ready(_ context.Context, in PlatformRequest) error {
	return d.record("ready", in)
}
func (d *recordingDriver) SetWeight(_ context.Context, in PlatformRequest) error {
	return d.record("set-weight", in)
}
func (d *recordingDriver) Promote(_ context.Context, in PlatformRequest) error {
	return d.record("promote", in)
}
func (d *recordingDriver) Remove(_ context.Context, in PlatformRequest) error {
	return d.record("remove", in)
}
func (d *recordingDriver) Rollback(_ context.Context, in PlatformRequest) error {
	return d.record("rollback", in)
}
func (d *recordingDriver) Current(_ context.Context, in PlatformRequest) (CurrentResult, error) {
	return CurrentResult{Known: true, Version: "1.3.9"}, d.record("current", in)
}

// Every activity runs the operation of the driver that the request's kind names, and of no other.
func TestPlatformRoutesByKind(t *testing.T) {
	other, exec := &recordingDriver{}, &recordingDriver{}
	p := &Platform{Drivers: Drivers{"other": other, spec.PlatformExec: exec}}
	env := newActivityEnv(p)
	in := PlatformRequest{Kind: "other", Vars: testVars}
	for _, fn := range []any{p.Deploy, p.WaitReady, p.SetWeight, p.Promote, p.Remove, p.Rollback, p.Current} {
		if _, err := env.ExecuteActivity(fn, in); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"deploy", "ready", "set-weight", "promote", "remove", "rollback", "current"}
	if !slices.Equal(other.ops, want) {
		t.Errorf("got operations %v, want %v", other.ops, want)
	}
	if len(exec.ops) != 0 {
		t.Errorf("got %v on the exec driver, want nothing", exec.ops)
	}
	if got := other.reqs[0].Vars.Version; got != testVars.Version {
		t.Errorf("got version %q in the driver's request, want %q", got, testVars.Version)
	}
}

// A kind the worker has no driver for fails every activity at once, for good, and says what the worker knows.
func TestPlatformUnknownKind(t *testing.T) {
	p := &Platform{Drivers: Drivers{spec.PlatformExec: &recordingDriver{}, "other": &recordingDriver{}}}
	env := newActivityEnv(p)
	for _, fn := range []any{p.Deploy, p.WaitReady, p.SetWeight, p.Promote, p.Remove, p.Rollback, p.Current} {
		_, err := env.ExecuteActivity(fn, PlatformRequest{Kind: "kubernetes", Vars: testVars})
		assertFailure(t, err, ErrTypeInvalidSpec, false, `platform kind "kubernetes" is not known to this worker (it knows: exec, other)`)
	}
	_, err := env.ExecuteActivity(p.Deploy, PlatformRequest{Vars: testVars})
	assertFailure(t, err, ErrTypeInvalidSpec, false, "the request names no platform kind (this worker knows: exec, other)")

	empty := &Platform{}
	_, err = newActivityEnv(empty).ExecuteActivity(empty.Deploy, PlatformRequest{Kind: "exec"})
	assertFailure(t, err, ErrTypeInvalidSpec, false, `platform kind "exec" is not known to this worker (it knows: none)`)
}

// A request scheduled before requests had a kind carries only the exec section; it still reaches the exec
// driver, with its section intact.
func TestPlatformRequestWithoutKind(t *testing.T) {
	old := []byte(`{"exec":{"deploy":["./deploy.sh","{{.Version}}"],"dir":"deploy","timeout":90000000000},` +
		`"vars":{"service":"checkout","env":"staging","version":"1.4.0","image":"registry.test/checkout:1.4.0","track":"stable","weight":0,"replicas":2}}`)
	var in PlatformRequest
	if err := json.Unmarshal(old, &in); err != nil {
		t.Fatal(err)
	}
	exec := &recordingDriver{}
	p := &Platform{Drivers: Drivers{spec.PlatformExec: exec}}
	if _, err := newActivityEnv(p).ExecuteActivity(p.Deploy, in); err != nil {
		t.Fatal(err)
	}
	if len(exec.reqs) != 1 || exec.reqs[0].Exec == nil {
		t.Fatalf("got requests %+v, want one with the exec section", exec.reqs)
	}
	got := exec.reqs[0]
	if !slices.Equal(got.Exec.Deploy, []string{"./deploy.sh", "{{.Version}}"}) || got.Exec.Dir != "deploy" || got.Exec.Timeout.D().String() != "1m30s" {
		t.Errorf("got exec section %+v, want the old payload's", *got.Exec)
	}
	if got.Vars.Version != "1.4.0" || got.Vars.Replicas != 2 {
		t.Errorf("got vars %+v, want the old payload's", got.Vars)
	}

	// And a new request keeps the old field names, so that a worker running older code decodes it.
	b, err := json.Marshal(PlatformRequest{Kind: spec.PlatformExec, Platform: spec.Platform{Exec: &spec.ExecPlatform{Deploy: []string{"d"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kind", "exec", "vars"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("got fields %s, want %q among them", b, k)
		}
	}
}

// A worker refuses at admission a release whose platform it has no driver for.
func TestAdmitUnknownKind(t *testing.T) {
	p := &Platform{Drivers: Drivers{"other": &recordingDriver{}}, Exec: &ExecPolicy{Root: "/srv/ferry", Allow: []string{"/srv/ferry/**"}}}
	_, err := newActivityEnv(p).ExecuteActivity(p.Admit, AdmitRequest{Spec: admitSpec(), Version: "1.4.0", GitSHA: "0a1b2c3"})
	assertFailure(t, err, ErrTypeInvalidSpec, false, `platform: platform kind "exec" is not known to this worker (it knows: other)`)
}
