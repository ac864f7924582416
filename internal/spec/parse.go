package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads and parses the spec at path (see Parse), lints the SQL files of its migrations that it finds
// beside it (a build without cgo skips that), and resolves platform.exec.dir against the spec file's
// directory, so that the returned Spec names an absolute working directory wherever it travels.
//
// It reads at most MaxFileSize bytes, so that a named pipe or a device (/dev/zero) cannot exhaust memory.
func Load(path string) (*Spec, error) {
	data, err := readSpec(path)
	if err != nil {
		return nil, err
	}
	// The spec's SQL files are linted where this machine can read them: beside the spec.
	s, err := parse(data, path, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	if x := s.Platform.Exec; x != nil && !filepath.IsAbs(x.Dir) {
		dir, err := filepath.Abs(filepath.Join(filepath.Dir(path), x.Dir))
		if err != nil {
			return nil, fmt.Errorf("resolve platform.exec.dir: %w", err)
		}
		x.Dir = dir
	}
	return s, nil
}

// RelativeDir rewrites platform.exec.dir of a spec that Load returned (where it is absolute) relative to the
// directory of the spec file at path. That is the form a release carries: the worker resolves it against its
// own exec root, never against a path of the machine that started the release. A dir outside the spec's
// directory is a *Problems error, since no worker would resolve it.
func RelativeDir(s *Spec, path string) error {
	x := s.Platform.Exec
	if x == nil {
		return nil
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("resolve the spec's directory: %w", err)
	}
	dir := x.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(base, dir)
	}
	rel, err := filepath.Rel(base, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return errOrNil([]Problem{{File: path, Path: "platform.exec.dir", Message: fmt.Sprintf(
			"%s is outside the spec's directory %s, and the worker resolves it against its exec root", QuoteValue(x.Dir), base)}})
	}
	x.Dir = filepath.ToSlash(rel)
	return nil
}

// readSpec reads the file at path, up to one byte past MaxFileSize: Parse refuses what is longer.
func readSpec(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	if len(data) > MaxFileSize {
		size := "over the limit"
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = byteSize(int(fi.Size())) + ", over the limit"
		}
		return nil, errOrNil([]Problem{{File: path, Message: fmt.Sprintf("the file is %s of %s", size, byteSize(MaxFileSize))}})
	}
	return data, nil
}

// Parse decodes ferry.yaml, applies defaults and validates the result. filename only labels problems. On any
// problem it returns a *Problems error listing all of them as "FILE:LINE: FIELD.PATH: message".
//
// Parsing is bounded: a file over MaxFileSize, a document that expands to too many values through aliases, and
// a spec whose JSON (the workflow input that carries it) is over MaxPayloadSize are problems, found in well under
// a second.
func Parse(data []byte, filename string) (*Spec, error) { return parse(data, filename, "") }

// parse is Parse that, with a sqlDir, also lints the migrations' SQL files found under it.
func parse(data []byte, filename, sqlDir string) (*Spec, error) {
	if len(data) > MaxFileSize {
		return nil, errOrNil([]Problem{{File: filename,
			Message: fmt.Sprintf("the file is %s, over the limit of %s", byteSize(len(data)), byteSize(MaxFileSize))}})
	}
	root, p := document(data)
	if p != nil {
		p.File = filename
		return nil, errOrNil([]Problem{*p})
	}
	d := &decoder{source: newSource(filename), budget: maxNodes}
	var s Spec
	d.value(root, "", reflect.ValueOf(&s).Elem())
	if d.exhausted {
		// What decoded so far is a fragment: validating it would only add noise.
		return nil, errOrNil(d.problems)
	}
	applyDefaults(&s, d.source)
	problems := append(d.problems, validate(&s, d.source)...)
	if sqlDir != "" && len(problems) == 0 {
		problems = lintMigrations(&s, sqlDir, d.source)
	}
	if err := errOrNil(problems); err != nil {
		return nil, err
	}
	if size := payloadSize(&s); size > MaxPayloadSize {
		return nil, errOrNil([]Problem{{File: filename, Message: fmt.Sprintf(
			"the spec is %s as workflow input, over the limit of %s (Temporal refuses payloads over 2 MB)",
			byteSize(size), byteSize(MaxPayloadSize))}})
	}
	return &s, nil
}

// Size limits of a spec.
const (
	// MaxFileSize bounds the file that Parse reads. Real specs are a few KB.
	MaxFileSize = 1 << 20
	// MaxPayloadSize bounds the spec's JSON encoding, which travels in the Release workflow's input and, in
	// parts, in activity inputs. Temporal rejects a payload over 2 MB and warns from 512 KB; a quarter of
	// that warning level leaves room for the rest of the input and keeps history small.
	MaxPayloadSize = 128 << 10
)

// payloadSize is the size of the spec as JSON, as Temporal's default data converter encodes it.
func payloadSize(s *Spec) int {
	b, err := json.Marshal(s)
	if err != nil {
		return 0 // a Spec always encodes; if not, starting the release reports it
	}
	return len(b)
}

// byteSize formats n bytes as "812 B", "12.3 KB" or "1.5 MB" (powers of 1024).
func byteSize(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}

var yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document returns the root node of the one YAML document in data, or the problem that prevents that.
func document(data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(err, data)
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		return nil, &Problem{Message: "empty spec (want service, image, platform and environments)"}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &Problem{Line: extra.Line, Message: "only one YAML document is allowed"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxProblem(err, data)
	}
	return doc.Content[0], nil
}

// parserErrors are the problems yaml.v3 reports from its parser rather than its scanner. For those it prints
// the zero-based line of the construct being parsed (the flow mapping that never closed), so add one.
var parserErrors = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

var unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// syntaxProblem turns a yaml.v3 error into a problem with the line yaml.v3 knows, corrected where it names the
// wrong one: a tab in indentation is reported on the line of the tab, and an unknown anchor (which yaml.v3
// reports without a line) on the line of its first use in data.
func syntaxProblem(err error, data []byte) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlErrRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserErrors[msg] {
			line++
		}
	}
	if strings.Contains(msg, "tab character") || msg == "found character that cannot start any token" {
		if tab := tabLine(data, line); tab > 0 {
			return &Problem{Line: tab, Message: "invalid YAML: a tab character in indentation (indent with spaces)"}
		}
	}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		return &Problem{Line: aliasLine(data, m[1]), Message: fmt.Sprintf("invalid YAML: unknown anchor %s (define &%s before *%s uses it)", QuoteValue(m[1]), Truncate(m[1], maxValueLen), Truncate(m[1], maxValueLen))}
	}
	return &Problem{Line: line, Message: "invalid YAML: " + msg}
}

// tabLine returns the line near the reported one whose indentation holds a tab, or 0. yaml.v3 reports such a
// tab on its own line, on the last line with content before it, or (at the start of the document) on none.
func tabLine(data []byte, reported int) int {
	lines := bytes.Split(data, []byte("\n"))
	tabbed := func(n int) bool {
		if n < 1 || n > len(lines) {
			return false
		}
		l := lines[n-1]
		return bytes.ContainsRune(l[:len(l)-len(bytes.TrimLeft(l, " \t"))], '\t')
	}
	if reported == 0 {
		for n := 1; n <= len(lines); n++ {
			if tabbed(n) {
				return n
			}
		}
		return 0
	}
	// The reported line, then the next one, past blank lines and comments; then the one before.
	for n := reported; n <= len(lines); n++ {
		if tabbed(n) {
			return n
		}
		if rest := bytes.TrimSpace(lines[n-1]); n > reported && len(rest) > 0 && rest[0] != '#' {
			break
		}
	}
	if tabbed(reported - 1) {
		return reported - 1
	}
	return 0
}

// aliasLine returns the line of the first *name in data, or 0.
func aliasLine(data []byte, name string) int {
	re := regexp.MustCompile(`(^|[\s\[{,:-])\*` + regexp.QuoteMeta(name) + `($|[\s\]},])`)
	for i, l := range bytes.Split(data, []byte("\n")) {
		if re.Match(l) {
			return i + 1
		}
	}
	return 0
}
