package workflows

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Workflow code must replay identically: no wall clock, no goroutines or real sleeps, no I/O, no
// randomness. This test reads every non-test file of the package and rejects what would break replay.
var (
	forbiddenImports = map[string]string{
		"os": "I/O", "os/exec": "I/O", "net": "I/O", "net/http": "I/O", "io/ioutil": "I/O",
		"math/rand": "randomness", "math/rand/v2": "randomness", "crypto/rand": "randomness",
		"sync": "native concurrency; use workflow.Go and channels", "log": "logging; use workflow.GetLogger",
	}
	forbiddenCalls = map[string]string{
		"time.Now": "workflow.Now", "time.Sleep": "workflow.Sleep", "time.After": "workflow.NewTimer",
		"time.NewTimer": "workflow.NewTimer", "time.Tick": "workflow.NewTimer", "time.NewTicker": "workflow.NewTimer",
		"time.Since": "workflow.Now", "time.Until": "workflow.Now", "time.AfterFunc": "workflow.NewTimer",
	}
)

func TestWorkflowCodeIsDeterministic(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, problem := range nondeterminism(fset, f) {
			t.Error(problem)
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d files, want the whole package", checked)
	}
}

// nondeterminism lists the replay hazards in one file.
func nondeterminism(fset *token.FileSet, f *ast.File) []string {
	var out []string
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why, bad := forbiddenImports[path]; bad {
			out = append(out, fset.Position(imp.Pos()).String()+": imports "+path+" ("+why+")")
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, fset.Position(n.Pos()).String()+": go statement (use workflow.Go)")
		case *ast.SelectStmt:
			out = append(out, fset.Position(n.Pos()).String()+": select statement (use workflow.NewSelector)")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok {
				if use, bad := forbiddenCalls[id.Name+"."+n.Sel.Name]; bad {
					out = append(out, fset.Position(n.Pos()).String()+": "+id.Name+"."+n.Sel.Name+" (use "+use+")")
				}
			}
		}
		return true
	})
	return out
}

func TestDeterminismCheckCatchesHazards(t *testing.T) {
	src := `package p
import ("math/rand"; "time")
func f() { go g(); _ = time.Now(); time.Sleep(1); _ = rand.Int() }
func g() {}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := nondeterminism(fset, f); len(got) != 4 {
		t.Errorf("got %d problems %q, want 4 (import, go, time.Now, time.Sleep)", len(got), got)
	}
}
