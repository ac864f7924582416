package spec

import (
	"bytes"
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

// Load reads and parses the spec at path (see Parse) and resolves platform.exec.dir against the spec file's
// directory, so that the returned Spec names an absolute working directory wherever it travels.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	s, err := Parse(data, path)
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

// Parse decodes ferry.yaml, applies defaults and validates the result. filename only labels problems. On any
// problem it returns a *Problems error listing all of them as "FILE:LINE: FIELD.PATH: message".
func Parse(data []byte, filename string) (*Spec, error) {
	root, p := document(data)
	if p != nil {
		p.File = filename
		return nil, errOrNil([]Problem{*p})
	}
	d := &decoder{source: newSource(filename)}
	var s Spec
	d.value(root, "", reflect.ValueOf(&s).Elem())
	applyDefaults(&s, d.source)
	if err := errOrNil(append(d.problems, validate(&s, d.source)...)); err != nil {
		return nil, err
	}
	return &s, nil
}

var yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document returns the root node of the one YAML document in data, or the problem that prevents that.
func document(data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(err)
	}
	if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
		return nil, &Problem{Message: "empty spec (want service, image, platform and environments)"}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &Problem{Line: extra.Line, Message: "only one YAML document is allowed"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxProblem(err)
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

func syntaxProblem(err error) *Problem {
	if m := yamlErrRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserErrors[m[2]] {
			line++
		}
		return &Problem{Line: line, Message: "invalid YAML: " + m[2]}
	}
	return &Problem{Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}
