package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
	check := func(field string, argv []string) {
		if len(argv) == 0 {
			return
		}
		prog := argv[0]
		if filepath.IsAbs(prog) || !strings.ContainsRune(prog, '/') || strings.Contains(prog, "{{") {
			return
		}
		if _, err := os.Stat(filepath.Join(x.Dir, prog)); err != nil {
			warnings = append(warnings, fmt.Sprintf("%s[0]: program %s does not exist in %s", field, QuoteValue(prog), x.Dir))
		}
	}
	for _, c := range []struct {
		field string
		argv  []string
	}{
		{"platform.exec.deploy", x.Deploy}, {"platform.exec.setWeight", x.SetWeight}, {"platform.exec.promote", x.Promote},
		{"platform.exec.rollback", x.Rollback}, {"platform.exec.remove", x.Remove}, {"platform.exec.ready", x.Ready},
		{"platform.exec.current", x.Current},
	} {
		check(c.field, c.argv)
	}
	checks := func(path string, list []Check) {
		for i, c := range list {
			check(fmt.Sprintf("%s[%d].exec", path, i), c.Exec)
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
	return warnings
}
