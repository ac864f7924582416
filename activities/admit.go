package activities

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferryhq/ferry/internal/spec"
)

// AdmitRequest is what a release asks the worker to do: its spec and coordinates, as the workflow input carries
// them.
type AdmitRequest struct {
	Spec    spec.Spec `json:"spec"`
	Version string    `json:"version"`
	GitSHA  string    `json:"gitSha"`
	// Image is the artifact reference; empty means Spec.Image.Repository:Version.
	Image string `json:"image,omitempty"`
}

// Admit decides whether this worker runs a release at all. The Release workflow calls it first, before it
// takes a lock or runs a command, because its input comes from whoever could start a workflow on the task
// queue, not necessarily from `ferry start`. Admit validates the spec again with the rules of internal/spec,
// checks the release coordinates and that the worker has a driver for the spec's platform kind, resolves
// platform.exec.dir against the exec root and checks the program of every command (each platform.exec
// operation and every exec check) against the worker's allowlist. A program
// whose name is a template is checked when its command runs, once the template is rendered.
//
// A refusal is a non-retryable ErrTypeInvalidSpec whose message lists every problem, each naming the field,
// the program and the rule. Admit only reads, so it is idempotent.
func (p *Platform) Admit(ctx context.Context, in AdmitRequest) error {
	problems := admissionProblems(p.Exec, in)
	if kind := in.Spec.Platform.Kind(); kind != "" {
		if _, err := p.Drivers.driver(kind); err != nil {
			problems = append(problems, "platform: "+err.Error())
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return redactError(p.Redact, invalidSpec("the worker refuses this release: "+strings.Join(problems, "; "), nil))
}

// admissionProblems lists what makes the worker refuse in, one line each.
func admissionProblems(pol *ExecPolicy, in AdmitRequest) []string {
	if pol == nil {
		pol = &ExecPolicy{}
	}
	var problems []string
	if err := spec.Validate(&in.Spec); err != nil {
		problems = append(problems, "spec: "+strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	image := in.Image
	if image == "" {
		image = in.Spec.Image.Repository + ":" + in.Version
	}
	if err := spec.CheckCoordinates(in.Version, in.GitSHA, image); err != nil {
		problems = append(problems, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	x := in.Spec.Platform.Exec
	if x == nil {
		return problems // Validate said so
	}
	dir, err := pol.ResolveDir(x.Dir)
	if err != nil {
		return append(problems, "platform.exec.dir: "+err.Error())
	}
	for _, c := range specCommands(&in.Spec) {
		prog := c.argv[0]
		if strings.Contains(prog, "{{") {
			continue // rendered per command; the command activity checks it
		}
		if err := pol.AllowedProgram(prog, dir); err != nil {
			problems = append(problems, fmt.Sprintf("%s[0]: %v", c.field, err))
		}
	}
	return problems
}

// specCommand is one argv of a spec and the field it came from.
type specCommand struct {
	field string
	argv  []string
}

// specCommands lists every non-empty argv of s: the platform.exec operations, then the exec checks of each
// environment.
func specCommands(s *spec.Spec) []specCommand {
	var out []specCommand
	add := func(field string, argv []string) {
		if len(argv) > 0 {
			out = append(out, specCommand{field, argv})
		}
	}
	if x := s.Platform.Exec; x != nil {
		add(opDeploy.field, x.Deploy)
		add(opSetWeight.field, x.SetWeight)
		add(opPromote.field, x.Promote)
		add(opRollback.field, x.Rollback)
		add(opRemove.field, x.Remove)
		add(opReady.field, x.Ready)
		add(opCurrent.field, x.Current)
	}
	checks := func(path string, list []spec.Check) {
		for i, c := range list {
			add(fmt.Sprintf("%s[%d].exec", path, i), c.Exec)
		}
	}
	for i, e := range s.Environments {
		p := fmt.Sprintf("environments[%d]", i)
		checks(p+".checks.smoke", e.Checks.Smoke)
		checks(p+".checks.e2e", e.Checks.E2E)
		if a := e.Strategy.Analysis; a != nil {
			checks(p+".strategy.analysis.checks", a.Checks)
		}
		if v := e.Verify; v != nil {
			checks(p+".verify.checks", v.Checks)
		}
	}
	return out
}
