package spec

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// goSpec is a valid spec built in Go, before defaults.
func goSpec() *Spec {
	return &Spec{
		Service: "checkout",
		Image:   Image{Repository: "registry.example.com/checkout"},
		Platform: Platform{Exec: &ExecPlatform{
			Deploy:    []string{"./platform.sh", "deploy", "{{.Env}}", "{{.Image}}"},
			SetWeight: []string{"./platform.sh", "set-weight", "{{.Weight}}"},
			Promote:   []string{"./platform.sh", "promote"},
			Rollback:  []string{"./platform.sh", "rollback", "{{.StableVersion}}"},
			Remove:    []string{"./platform.sh", "remove"},
		}},
		Environments: []Environment{
			{Name: "staging"},
			{
				Name:     "production",
				Gate:     Gate{Approval: &Approval{Approvers: []string{"alice", "bob"}}},
				Strategy: Strategy{Type: StrategyCanary, Steps: []Step{{Weight: 10, Bake: Duration(time.Minute)}}},
			},
		},
	}
}

func TestValidateGoSpec(t *testing.T) {
	s := goSpec()
	ApplyDefaults(s)
	if err := Validate(s); err != nil {
		t.Fatalf("got error:\n%v\nwant none", err)
	}
	if got := len(s.Environments[1].Strategy.Steps); got != 2 {
		t.Errorf("got %d canary steps after defaults, want 2", got)
	}

	// Defaults are idempotent: applying them again changes nothing.
	before := *s
	before.Environments = append([]Environment(nil), s.Environments...)
	ApplyDefaults(s)
	if !reflect.DeepEqual(*s, before) {
		t.Errorf("got %+v after a second ApplyDefaults, want %+v", *s, before)
	}
}

func TestValidateGoSpecProblems(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Spec)
		wants []string
	}{
		{
			name: "replicas and weight",
			edit: func(s *Spec) {
				s.Environments[0].Replicas = 0
				s.Environments[1].Strategy.Steps[0].Weight = 150
			},
			wants: []string{
				"environments[0].replicas: must be at least 1, got 0",
				"environments[1].strategy.steps[0].weight: must be 1..100, got 150",
			},
		},
		{
			name: "negative durations",
			edit: func(s *Spec) {
				s.Environments[1].Strategy.Steps[0].Bake = Duration(-time.Second)
				s.Platform.Exec.Timeout = Duration(-time.Second)
			},
			wants: []string{
				"platform.exec.timeout: must be greater than 0, got -1s",
				"environments[1].strategy.steps[0].bake: must not be negative, got -1s",
			},
		},
		{
			name: "gate auto with approval",
			edit: func(s *Spec) { s.Environments[1].Gate.Auto = true },
			wants: []string{
				"environments[1].gate: auto cannot be combined with approval or window",
			},
		},
		{
			name:  "no platform",
			edit:  func(s *Spec) { s.Platform.Exec = nil },
			wants: []string{"platform: required (supported: exec, docker)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := goSpec()
			ApplyDefaults(s)
			tt.edit(s)
			err := Validate(s)
			var ps *Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got error %v, want *Problems", err)
			}
			if got, want := err.Error(), strings.Join(tt.wants, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			for _, p := range ps.List {
				if p.File != "" || p.Line != 0 {
					t.Errorf("got problem at %s:%d, want no file or line", p.File, p.Line)
				}
			}
		})
	}
}

// TestValidateWithoutDefaults checks that Validate does not default: defaulted fields read as missing.
func TestValidateWithoutDefaults(t *testing.T) {
	err := Validate(goSpec())
	for _, want := range []string{
		"platform.exec.timeout: required",
		"environments[0].gate: must be auto or set approval or window",
		"environments[0].replicas: must be at least 1, got 0",
		`environments[0].strategy.type: must be one of recreate, rolling, blue-green, canary, got ""`,
		"environments[1].gate.approval.quorum: must be between 1 and the number of approvers (2), got 0",
	} {
		if err == nil || !strings.Contains(err.Error()+"\n", want+"\n") {
			t.Errorf("got error:\n%v\nwant a line %q", err, want)
		}
	}
}

// TestExplicitZeroIsKept checks that defaults fill omitted fields only: maxUnavailable: 0 is a real setting.
func TestExplicitZeroIsKept(t *testing.T) {
	s, err := Parse([]byte(minimalSpec("strategy: {maxUnavailable: 0}")), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := s.Environments[0].Strategy
	if st.MaxUnavailable != 0 || st.MaxSurge != 1 {
		t.Errorf("got maxUnavailable %d, maxSurge %d, want 0 and 1", st.MaxUnavailable, st.MaxSurge)
	}
}

// TestJSONRoundTrip checks that a parsed spec survives workflow input encoding and still validates.
func TestJSONRoundTrip(t *testing.T) {
	s := loadValid(t, "full.yaml")
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, s) {
		t.Errorf("got %+v after a JSON round trip, want %+v", back, *s)
	}
	if err := Validate(&back); err != nil {
		t.Errorf("got error %v, want none", err)
	}
}

func TestCheckName(t *testing.T) {
	long := strings.Repeat("x", 70)
	tests := []struct {
		check Check
		want  string
	}{
		{Check{HTTP: &HTTPCheck{Path: "/healthz"}}, "http GET /healthz"},
		{Check{HTTP: &HTTPCheck{URL: "https://example.com/ping"}}, "http GET https://example.com/ping"},
		{Check{Exec: []string{"./e2e.sh", "{{.Env}}"}}, "./e2e.sh {{.Env}}"},
		{Check{Exec: []string{"./e2e.sh", long}}, "./e2e.sh " + strings.Repeat("x", 48) + "..."},
		{Check{}, ""},
	}
	for _, tt := range tests {
		got := checkName(&tt.check)
		if got != tt.want {
			t.Errorf("checkName(%+v): got %q, want %q", tt.check, got, tt.want)
		}
		if n := len([]rune(got)); n > maxCheckName {
			t.Errorf("checkName(%+v): got %d characters, want at most %d", tt.check, n, maxCheckName)
		}
	}
}

func TestParseHours(t *testing.T) {
	tests := []struct {
		in         string
		start, end time.Duration
		wantErr    string
	}{
		{in: "09:00-16:00", start: 9 * time.Hour, end: 16 * time.Hour},
		{in: "00:00-24:00", start: 0, end: 24 * time.Hour},
		{in: "22:30-23:59", start: 22*time.Hour + 30*time.Minute, end: 23*time.Hour + 59*time.Minute},
		{in: "16:00-09:00", wantErr: `start must be before end, got "16:00-09:00"`},
		{in: "09:00-09:00", wantErr: `start must be before end, got "09:00-09:00"`},
		{in: "9:00-16:00", wantErr: `must be "HH:MM-HH:MM", got "9:00-16:00"`},
		{in: "09:60-16:00", wantErr: `must be times between 00:00 and 24:00, got "09:60-16:00"`},
		{in: "09:00-24:01", wantErr: `must be times between 00:00 and 24:00, got "09:00-24:01"`},
	}
	for _, tt := range tests {
		start, end, err := ParseHours(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseHours(%q): got error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || start != tt.start || end != tt.end {
			t.Errorf("ParseHours(%q): got %v, %v, %v, want %v, %v, nil", tt.in, start, end, err, tt.start, tt.end)
		}
	}
}

func TestParseBlackout(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	start, end, err := ParseBlackout("2026-12-20/2027-01-04", berlin)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 20, 0, 0, 0, 0, berlin); !start.Equal(want) {
		t.Errorf("got start %v, want %v", start, want)
	}
	if want := time.Date(2027, 1, 5, 0, 0, 0, 0, berlin); !end.Equal(want) {
		t.Errorf("got end %v, want %v", end, want)
	}
	if _, _, err := ParseBlackout("2026-12-20/2026-12-20", berlin); err != nil {
		t.Errorf("one-day blackout: got error %v, want none", err)
	}
	if _, _, err := ParseBlackout("2026-12-20", berlin); err == nil {
		t.Error("got no error for a single date, want one")
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "ferry.yaml", Line: 3, Path: "service", Message: "required"}, "ferry.yaml:3: service: required"},
		{Problem{File: "ferry.yaml", Path: "service", Message: "required"}, "ferry.yaml: service: required"},
		{Problem{File: "ferry.yaml", Line: 2, Message: "invalid YAML: x"}, "ferry.yaml:2: invalid YAML: x"},
		{Problem{Path: "service", Message: "required"}, "service: required"},
		{Problem{Line: 4, Path: "service", Message: "required"}, "line 4: service: required"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestLoadReportsPath(t *testing.T) {
	path := filepath.Join(specsDir, "invalid", "replicas.yaml")
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":7: environments[0].replicas:") {
		t.Errorf("got error %v, want it to start with %q", err, path+":7:")
	}
}
