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
// checks the release coordinates, that the worker has a driver for the spec's platform kind and, when the
// spec names metrics, a Prometheus to measure them with (NoMetrics), resolves
// platform.exec.dir against the exec root and checks the program of every command (each platform.exec
// operation and every exec check) against the worker's allowlist. A program
// whose name is a template is checked when its command runs, once the template is rendered.
//
// A refusal is a non-retryable ErrTypeInvalidSpec whose message lists every problem, each naming the field,
// the program and the rule. Admit only reads, so it is idempotent.
func (p *Platform) Admit(ctx context.Context, in AdmitRequest) error {
	problems := admissionProblems(p.Exec, in)
	if p.NoMetrics != "" {
		problems = append(problems, unmeasurable(&in.Spec, p.NoMetrics)...)
	}
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
	for _, c := range spec.Commands(&in.Spec) {
		prog := c.Argv[0]
		if strings.Contains(prog, "{{") {
			continue // rendered per command; the command activity checks it
		}
		if err := pol.AllowedProgram(prog, dir); err != nil {
			problems = append(problems, fmt.Sprintf("%s[0]: %v", c.Field, err))
		}
	}
	return problems
}

// unmeasurable lists the analyses and verifications of s that name metrics, which a worker that cannot
// measure them (why) would only ever measure as errors.
func unmeasurable(s *spec.Spec, why string) []string {
	var problems []string
	for i := range s.Environments {
		e, p := &s.Environments[i], fmt.Sprintf("environments[%d]", i)
		if a := e.Strategy.Analysis; a != nil && len(a.Metrics) > 0 {
			problems = append(problems, fmt.Sprintf("%s.strategy.analysis.metrics: this worker cannot measure metrics: %s", p, why))
		}
		if v := e.Verify; v != nil && len(v.Metrics) > 0 {
			problems = append(problems, fmt.Sprintf("%s.verify.metrics: this worker cannot measure metrics: %s", p, why))
		}
	}
	return problems
}
