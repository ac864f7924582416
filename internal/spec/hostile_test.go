package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Bounds on judging one hostile spec.
const (
	hostileTime  = time.Second
	hostileAlloc = 200 << 20 // bytes allocated in total, an upper bound of what the parse adds to RSS
)

// judge parses data once and fails the test past the time or allocation bound. It returns what `ferry
// validate` prints for it: the problems, or "ok".
func judge(t *testing.T, data []byte) string {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := Parse(data, "ferry.yaml")
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if took > hostileTime {
		t.Errorf("took %s, want under %s", took, hostileTime)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > hostileAlloc {
		t.Errorf("allocated %d MB, want under %d MB", alloc>>20, hostileAlloc>>20)
	}
	if err != nil {
		return err.Error() + "\n"
	}
	return "ok\n"
}

// TestHostileSpecs judges every testdata/specs/hostile/NAME.yaml (alias bombs, tabs, anchors, BOMs, binary,
// unicode, huge values) and compares the verdict with NAME.err. With -update it rewrites the .err files.
func TestHostileSpecs(t *testing.T) {
	for _, file := range specFiles(t, "hostile", 20) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := judge(t, data)
			if len(got) > 4000 {
				t.Errorf("got %d bytes of problems, want long values truncated", len(got))
			}
			checkGolden(t, strings.TrimSuffix(file, ".yaml")+".err", got)
		})
	}
}

// TestHostileLargeSpecs covers inputs too large to keep in testdata.
func TestHostileLargeSpecs(t *testing.T) {
	const head = "service: hello\nimage: {repository: registry.example.com/hello}\n" +
		"platform: {exec: {deploy: [./p.sh, \"{{.Version}}\"], rollback: [./p.sh], remove: [./p.sh]}}\n"
	tests := []struct {
		name string
		data string
		want string
	}{
		{"5 MB service name", "service: " + strings.Repeat("x", 5<<20) + "\n",
			"ferry.yaml: the file is 5.0 MB, over the limit of 1.0 MB\n"},
		{"900 KB service name", strings.Replace(head, "service: hello", "service: "+strings.Repeat("x", 900<<10), 1) +
			"environments: [{name: staging}]\n",
			`ferry.yaml:1: service: must be 1..63 lower-case letters, digits or '-', got "` + strings.Repeat("x", maxValueLen) + `"... (921600 bytes)` + "\n"},
		{"a million-line file", strings.Repeat("#\n", 500_000), "ferry.yaml: empty spec (want service, image, platform and environments)\n"},
		{"2,000 aliases of a 1,000-key anchor", head + "environments:\n  - &big {name: a, config: {" + keys(1000) + "}}\n" +
			strings.Repeat("  - *big\n", 2000),
			"ferry.yaml:5: the spec expands to more than 20000 values (YAML aliases are expanded where they are used): write it without so many aliases\n"},
		{"many environments", head + "environments:\n" + strings.Repeat("  - {name: staging, config: {a: "+strings.Repeat("v", 2000)+"}}\n", 100),
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := judge(t, []byte(tt.data))
			if tt.want != "" && got != tt.want {
				t.Errorf("got:\n%.500s\nwant:\n%.500s", got, tt.want)
			}
			if len(got) > 20000 {
				t.Errorf("got %d bytes of problems, want long values truncated", len(got))
			}
		})
	}
}

// keys returns n distinct "kI: v" flow mapping entries.
func keys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	return b.String()
}
