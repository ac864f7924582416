package activities

import (
	"context"
	"errors"
	"time"

	"github.com/ferryhq/ferry/internal/spec"
)

// CheckRequest runs one check.
type CheckRequest struct {
	Check spec.Check `json:"check"`
	// BaseURL is the environment URL (already templated) that relative http paths join.
	BaseURL string `json:"baseUrl,omitempty"`
	// Dir is the working directory of exec checks.
	Dir  string       `json:"dir,omitempty"`
	Vars TemplateVars `json:"vars"`
}

// CheckResult is a check's verdict. A failing probe is a result (Passed false), not an activity error.
type CheckResult struct {
	Name     string        `json:"name"`
	Passed   bool          `json:"passed"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration"`
}

// Checks runs smoke, e2e, analysis and verification probes. TODO(helper): implement.
type Checks struct{}

func (c *Checks) RunCheck(ctx context.Context, in CheckRequest) (CheckResult, error) {
	return CheckResult{}, errors.New("not implemented")
}
