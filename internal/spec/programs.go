package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Command is one argv of a spec and the path of the field it came from.
type Command struct {
	Field string
	Argv  []string
}

// Commands lists every non-empty argv of s: the platform.exec operations, then the exec checks of each
// environment (smoke, e2e, analysis, verification).
func Commands(s *Spec) []Command {
	var out []Command
	add := func(field string, argv []string) {
		if len(argv) > 0 {
			out = append(out, Command{field, argv})
		}
	}
	if x := s.Platform.Exec; x != nil {
		add("platform.exec.deploy", x.Deploy)
		add("platform.exec.setWeight", x.SetWeight)
		add("platform.exec.promote", x.Promote)
		add("platform.exec.rollback", x.Rollback)
		add("platform.exec.remove", x.Remove)
		add("platform.exec.ready", x.Ready)
		add("platform.exec.current", x.Current)
	}
	checks := func(path string, list []Check) {
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

// MissingPrograms lists the commands of a loaded spec whose program is a relative path (./deploy.sh,
// scripts/check) that does not exist in platform.exec.dir, one warning each. Programs found on PATH and
// templated ones are not checked: the worker resolves those. The spec stays valid either way, since the worker
// runs commands on its own machine; on the machine that runs `ferry validate` the file is usually there.
func MissingPrograms(s *Spec) []string {
	x := s.Platform.Exec
	if x == nil {
		return nil
	}
	var warnings []string
	for _, c := range Commands(s) {
		prog := c.Argv[0]
		if filepath.IsAbs(prog) || !strings.ContainsRune(prog, '/') || strings.Contains(prog, "{{") {
			continue
		}
		if _, err := os.Stat(filepath.Join(x.Dir, prog)); err != nil {
			warnings = append(warnings, fmt.Sprintf("%s[0]: program %s does not exist in %s", c.Field, QuoteValue(prog), x.Dir))
		}
	}
	return warnings
}
