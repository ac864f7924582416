package spec

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/specs/invalid/*.err from the current output")

const specsDir = "../../testdata/specs"

// specFiles lists testdata/specs/KIND/*.yaml and fails unless there are at least atLeast of them.
func specFiles(t *testing.T, kind string, atLeast int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(specsDir, kind, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < atLeast {
		t.Fatalf("got %d %s specs, want at least %d", len(files), kind, atLeast)
	}
	return files
}

// TestInvalidSpecs parses every testdata/specs/invalid/NAME.yaml and compares the full error output with
// NAME.err. With -update it rewrites the .err files instead; review the diff before committing it.
func TestInvalidSpecs(t *testing.T) {
	for _, file := range specFiles(t, "invalid", 32) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(data, "ferry.yaml")
			if err == nil {
				t.Fatalf("got no error (spec %+v), want problems", s)
			}
			var ps *Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got error %T %q, want *Problems", err, err)
			}
			got := err.Error() + "\n"
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".err", got)
		})
	}
}

// TestInvalidSpecsSortedByLine checks that problems come in line order, however they were found.
func TestInvalidSpecsSortedByLine(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(specsDir, "invalid", "many-problems.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "ferry.yaml")
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got error %v, want *Problems", err)
	}
	if len(ps.List) < 8 {
		t.Errorf("got %d problems, want at least 8", len(ps.List))
	}
	for i := 1; i < len(ps.List); i++ {
		if ps.List[i].Line < ps.List[i-1].Line {
			t.Errorf("got line %d after line %d, want lines in order", ps.List[i].Line, ps.List[i-1].Line)
		}
	}
}

func loadValid(t *testing.T, name string) *Spec {
	t.Helper()
	path := filepath.Join(specsDir, "valid", name)
	s, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): got error:\n%v\nwant none", name, err)
	}
	if err := Validate(s); err != nil {
		t.Fatalf("Validate(Load(%s)): got error:\n%v\nwant none", name, err)
	}
	return s
}

func TestValidSpecs(t *testing.T) {
	for _, file := range specFiles(t, "valid", 5) {
		t.Run(filepath.Base(file), func(t *testing.T) { loadValid(t, filepath.Base(file)) })
	}
}

func TestValidSpecDefaults(t *testing.T) {
	validDir, err := filepath.Abs(filepath.Join(specsDir, "valid"))
	if err != nil {
		t.Fatal(err)
	}
	minimal := loadValid(t, "minimal.yaml")
	canary := loadValid(t, "canary.yaml")
	blueGreen := loadValid(t, "blue-green.yaml")
	recreate := loadValid(t, "recreate.yaml")
	full := loadValid(t, "full.yaml")
	prod := &canary.Environments[0]
	staging, production := &full.Environments[0], &full.Environments[1]

	tests := []struct {
		name      string
		got, want any
	}{
		{"minimal exec dir", minimal.Platform.Exec.Dir, validDir},
		{"full secrets", staging.Secrets["DATABASE_URL"], "vault:secret/checkout/staging#database_url"},
		{"minimal exec timeout", minimal.Platform.Exec.Timeout, Duration(5 * time.Minute)},
		{"minimal ready timeout", minimal.Platform.Exec.ReadyTimeout, Duration(10 * time.Minute)},
		{"minimal build", minimal.Image.Build == nil, true},
		{"minimal gate auto", minimal.Environments[0].Gate.Auto, true},
		{"minimal replicas", minimal.Environments[0].Replicas, 1},
		{"minimal strategy", minimal.Environments[0].Strategy.Type, StrategyRolling},
		{"minimal maxUnavailable", minimal.Environments[0].Strategy.MaxUnavailable, 1},
		{"minimal maxSurge", minimal.Environments[0].Strategy.MaxSurge, 1},
		{"minimal verify", minimal.Environments[0].Verify == nil, true},

		{"canary exec dir", canary.Platform.Exec.Dir, filepath.Join(validDir, "deploy")},
		{"canary exec timeout", canary.Platform.Exec.Timeout, Duration(2 * time.Minute)},
		{"canary build context", canary.Image.Build.Context, "."},
		{"canary build dockerfile", canary.Image.Build.Dockerfile, "Dockerfile"},
		{"canary gate auto", prod.Gate.Auto, false},
		{"canary quorum", prod.Gate.Approval.Quorum, 2},
		{"canary timezone", prod.Gate.Window.Timezone, "Europe/Berlin"},
		{"canary steps", len(prod.Strategy.Steps), 5},
		{"canary pause", prod.Strategy.Steps[2].Pause != nil, true},
		{"canary final step", prod.Strategy.Steps[4], Step{Weight: 100}},
		{"canary maxSurge", prod.Strategy.MaxSurge, 0},
		{"canary analysis interval", prod.Strategy.Analysis.Interval, Duration(time.Minute)},
		{"canary analysis failureLimit", prod.Strategy.Analysis.FailureLimit, 1},
		{"canary http check name", prod.Strategy.Analysis.Checks[0].Name, "http GET /healthz"},
		{"canary http check status", prod.Strategy.Analysis.Checks[0].HTTP.Status, 200},
		{"canary http check timeout", prod.Strategy.Analysis.Checks[0].Timeout, Duration(30 * time.Second)},
		{"canary exec check name", prod.Strategy.Analysis.Checks[1].Name, "error-rate"},
		{"canary exec check timeout", prod.Strategy.Analysis.Checks[1].Timeout, Duration(time.Minute)},
		{"canary verify interval", prod.Verify.Interval, Duration(30 * time.Second)},
		{"canary verify status", prod.Verify.Checks[0].HTTP.Status, 204},

		{"blue-green gate auto", blueGreen.Environments[0].Gate.Auto, true},
		{"blue-green scaleDownDelay", blueGreen.Environments[0].Strategy.ScaleDownDelay, Duration(30 * time.Second)},
		{"blue-green analysis interval", blueGreen.Environments[0].Strategy.Analysis.Interval, Duration(30 * time.Second)},
		{"blue-green maxUnavailable", blueGreen.Environments[0].Strategy.MaxUnavailable, 0},
		{"blue-green check name", blueGreen.Environments[0].Strategy.Analysis.Checks[0].Name,
			"http GET https://payments.example.com/{{.Track}}/healthz"},

		{"recreate ready timeout", recreate.Platform.Exec.ReadyTimeout, Duration(3 * time.Minute)},
		{"recreate strategy", recreate.Environments[0].Strategy.Type, StrategyRecreate},
		{"recreate maxSurge", recreate.Environments[0].Strategy.MaxSurge, 0},
		{"recreate check name", recreate.Environments[0].Checks.Smoke[0].Name, "./smoke.sh {{.Config.QUEUE}} {{.Version}}"},

		{"full staging replicas", staging.Replicas, 2},
		{"full staging maxSurge", staging.Strategy.MaxSurge, 1},
		{"full staging e2e name", staging.Checks.E2E[0].Name, "./e2e.sh {{.Env}}"},
		{"full production gate auto", production.Gate.Auto, false},
		{"full production steps", len(production.Strategy.Steps), 4},
		{"full production verify interval", production.Verify.Interval, Duration(time.Minute)},
		{"full production verify check timeout", production.Verify.Checks[0].Timeout, Duration(30 * time.Second)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadKeepsAbsoluteDir(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "elsewhere")
	data := "service: s\nimage: {repository: r.example/s}\nplatform:\n  exec: {deploy: [d], rollback: [r], remove: [rm], dir: " +
		abs + "}\nenvironments: [{name: e}]\n"
	path := filepath.Join(dir, "ferry.yaml")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Platform.Exec.Dir; got != abs {
		t.Errorf("got dir %q, want %q", got, abs)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "ferry.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got error %v, want one wrapping os.ErrNotExist", err)
	}
}

// checkGolden compares got with the golden file, or rewrites the file with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
