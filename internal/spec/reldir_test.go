package spec

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestRelativeDir(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "ferry.yaml")
	tests := []struct {
		dir, want string // want "" means refused
	}{
		{base, "."},
		{filepath.Join(base, "deploy"), "deploy"},
		{filepath.Join(base, "deploy", "..", "ops"), "ops"},
		{"deploy", "deploy"},
		{filepath.Join(filepath.Dir(base), "elsewhere"), ""},
		{"../elsewhere", ""},
		{"/", ""},
	}
	for _, tt := range tests {
		s := &Spec{Platform: Platform{Exec: &ExecPlatform{Dir: tt.dir}}}
		err := RelativeDir(s, path)
		switch {
		case tt.want == "" && (err == nil || !strings.Contains(err.Error(), "is outside the spec's directory")):
			t.Errorf("RelativeDir(%q): got %q, %v, want it refused", tt.dir, s.Platform.Exec.Dir, err)
		case tt.want != "" && (err != nil || s.Platform.Exec.Dir != tt.want):
			t.Errorf("RelativeDir(%q): got %q, %v, want %q", tt.dir, s.Platform.Exec.Dir, err, tt.want)
		}
	}
	if err := RelativeDir(&Spec{}, path); err != nil {
		t.Errorf("a spec without the exec platform: got %v, want nil", err)
	}
}
