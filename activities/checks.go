package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/probe"
	"github.com/ferryhq/ferry/internal/spec"
)

// CheckRequest runs one check.
type CheckRequest struct {
	Check spec.Check `json:"check"`
	// BaseURL is the environment URL that relative http paths join. Like the path, it is a template over Vars.
	BaseURL string `json:"baseUrl,omitempty"`
	// Dir is the working directory of exec checks, relative to the worker's exec root (ExecPolicy.Root); empty
	// means the root itself.
	Dir  string       `json:"dir,omitempty"`
	Vars TemplateVars `json:"vars"`
	// Platform is the request a platform activity of the checked track would get, so that a check naming
	// {{.TrackURL}} can reach that track's replicas (its Vars are those of the check). Nil: no track to reach.
	Platform *PlatformRequest `json:"platform,omitempty"`
}

// CheckResult is a check's verdict. A failing probe is a result (Passed false), not an activity error.
type CheckResult struct {
	Name     string        `json:"name"`
	Passed   bool          `json:"passed"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration"`
}

// defaultCheckTimeout bounds one check when the spec sets no timeout.
const defaultCheckTimeout = 30 * time.Second

// HTTPProber sends one GET and returns its status and (the start of) its body. probe.Client is the real one.
type HTTPProber interface {
	Get(ctx context.Context, url string) (probe.Response, error)
}

// Checks runs smoke, e2e, analysis and verification probes. The worker registers one
// &Checks{Runner: execrun.Runner{}, HTTP: probe.New(), Exec: policy, Redact: redactor}, with the policy and
// redactor it gives Platform; the Release workflow calls RunCheck.
type Checks struct {
	// Runner runs exec checks, the same way the exec platform runs its commands.
	Runner CommandRunner
	// HTTP sends http checks.
	HTTP HTTPProber
	// Exec is what the worker allows exec checks to run, as for Platform. Nil allows nothing.
	Exec *ExecPolicy
	// Tracks finds a track's replicas for checks that name {{.TrackURL}} (DriverTracks, with the worker's drivers).
	// Nil refuses those checks.
	Tracks TrackLocator
	// Redact sees every string RunCheck returns: the result's name and detail, and error messages. Nil
	// redacts nothing.
	Redact Redactor
}

// RunCheck runs one check and returns its verdict. A probe that fails (wrong status, body mismatch, refused
// connection, non-zero exit, timeout) is a result with Passed false and a one-line Detail, not an error; the
// error is a non-retryable ErrTypeInvalidSpec for a check that can never run (bad template, URL or regexp, not
// exactly one of http and exec, a program that cannot be run), or the context's error on cancellation.
//
// An exec check runs only a program the worker's ExecPolicy allows, as platform commands do. URLs in results
// and errors show no query string (which often holds a token) and no password.
//
// Idempotent as far as the check is: Ferry expects probes to only read (an exec check that writes must tolerate
// running again), and Temporal may retry the activity after a worker crash.
func (c *Checks) RunCheck(ctx context.Context, in CheckRequest) (CheckResult, error) {
	res, err := c.runCheck(ctx, in)
	if err != nil {
		return CheckResult{}, redactError(c.Redact, err)
	}
	res.Name = redact(c.Redact, res.Name)
	res.Detail = redact(c.Redact, res.Detail)
	return res, nil
}

func (c *Checks) runCheck(ctx context.Context, in CheckRequest) (CheckResult, error) {
	chk := in.Check
	field := "check"
	if chk.Name != "" {
		field = fmt.Sprintf("check %q", chk.Name)
	}
	timeout := chk.Timeout.D()
	if timeout <= 0 {
		timeout = defaultCheckTimeout
	}
	switch {
	case chk.HTTP != nil && len(chk.Exec) == 0:
		return c.runHTTP(ctx, in, field, timeout)
	case chk.HTTP == nil && len(chk.Exec) > 0:
		return c.runExec(ctx, in, field, timeout)
	}
	return CheckResult{}, invalidSpec(field+": set exactly one of http and exec", nil)
}

func (c *Checks) runHTTP(ctx context.Context, in CheckRequest, field string, timeout time.Duration) (CheckResult, error) {
	h := in.Check.HTTP
	var body *regexp.Regexp
	if h.Body != "" {
		var err error
		if body, err = regexp.Compile(h.Body); err != nil {
			return CheckResult{}, invalidSpec(field+": http.body is not a regular expression", err)
		}
	}
	if !spec.ReachesTrack(in.Check, in.BaseURL) {
		return c.probeHTTP(ctx, in, field, timeout, body)
	}
	return c.probeTrack(ctx, in, field, timeout, body)
}

// probeHTTP sends the check's one GET and judges the answer.
func (c *Checks) probeHTTP(ctx context.Context, in CheckRequest, field string, timeout time.Duration, body *regexp.Regexp) (CheckResult, error) {
	h := in.Check.HTTP
	url, shown, err := checkURL(in, field)
	if err != nil {
		return CheckResult{}, err
	}
	want := h.Status
	if want == 0 {
		want = http.StatusOK
	}

	res := CheckResult{Name: in.Check.Name}
	if res.Name == "" {
		res.Name = "http GET " + shown
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	resp, err := c.HTTP.Get(pctx, url)
	cancel()
	res.Duration = time.Since(start)

	var verdict string
	switch {
	case err != nil && ctx.Err() != nil:
		return CheckResult{}, ctx.Err()
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		verdict = "timed out after " + spec.FormatDuration(timeout)
	case err != nil:
		// The prober's error may quote the URL it was asked for, query string included.
		verdict = strings.ReplaceAll(err.Error(), url, shown)
	case resp.Status != want:
		verdict = fmt.Sprintf("status %d, want %d", resp.Status, want)
	case body != nil && !body.Match(resp.Body):
		verdict = fmt.Sprintf("status %d, body does not match %q", resp.Status, h.Body)
	default:
		res.Passed = true
		verdict = fmt.Sprintf("status %d", resp.Status)
	}
	res.Detail = oneLine("GET " + shown + ": " + verdict)
	return res, nil
}

// checkURL renders the check's URL, or joins its path to the environment's base URL, and insists on an absolute
// http(s) URL. It returns the URL to probe and the form to show in results, which go into workflow history: any
// password in it is masked, and its query string and fragment are left out.
func checkURL(in CheckRequest, field string) (url, shown string, err error) {
	h := in.Check.HTTP
	var raw string
	switch {
	case h.URL != "" && h.Path != "":
		return "", "", invalidSpec(field+": set one of http.url and http.path, not both", nil)
	case h.URL != "":
		if raw, err = render(field+".http.url", h.URL, in.Vars); err != nil {
			return "", "", invalidSpec(field+": http.url: invalid template", err)
		}
	case h.Path != "":
		base, err := render(field+" base url", in.BaseURL, in.Vars)
		if err != nil {
			return "", "", invalidSpec(field+": environment url: invalid template", err)
		}
		if base == "" {
			return "", "", invalidSpec(field+": http.path needs the environment's url", nil)
		}
		path, err := render(field+".http.path", h.Path, in.Vars)
		if err != nil {
			return "", "", invalidSpec(field+": http.path: invalid template", err)
		}
		// Plain string joining keeps a query string in the path intact, which url.JoinPath would escape.
		raw = strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
	default:
		return "", "", invalidSpec(field+": http needs url or path", nil)
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		var uerr *neturl.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the URL it quotes, which may hold a password
		}
		return "", "", invalidSpec(field+": invalid url", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", invalidSpec(fmt.Sprintf("%s: url %q is not an absolute http(s) url", field, shownURL(u)), nil)
	}
	return raw, shownURL(u), nil
}

// shownURL is u as results, status and errors show it: without its query string or fragment, and with any
// password masked.
func shownURL(u *neturl.URL) string {
	v := *u
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	return v.Redacted()
}

func (c *Checks) runExec(ctx context.Context, in CheckRequest, field string, timeout time.Duration) (CheckResult, error) {
	cmd, err := command(c.Exec, field+": exec", in.Check.Exec, in.Dir, timeout, "check", in.Vars)
	if err != nil {
		return CheckResult{}, err
	}
	res := CheckResult{Name: in.Check.Name}
	if res.Name == "" {
		res.Name = strings.Join(cmd.Argv, " ")
	}
	start := time.Now()
	out, err := runCommand(ctx, c.Runner, cmd, nil)
	res.Duration = time.Since(start)
	switch {
	case err == nil:
		res.Passed = out.ExitCode == 0
		res.Detail = withOutput(out.Status, c.quoted(out.Output), 1)
	case errors.Is(err, execrun.ErrTimeout):
		res.Detail = withOutput(err.Error(), c.quoted(out.Output), 1)
	case errors.Is(err, execrun.ErrNotRunnable):
		return CheckResult{}, invalidSpec(field+": exec: the program cannot be run: "+err.Error(), err)
	default:
		return CheckResult{}, fmt.Errorf("%s: %w", field, err)
	}
	return res, nil
}

// quoted is the part of an exec check's output its detail may quote: redacted, then cut to its end.
func (c *Checks) quoted(output string) string {
	return outputTail(redact(c.Redact, output), failureOutput)
}

// oneLine folds line breaks (and runs of spaces) so that a detail fits one status line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
