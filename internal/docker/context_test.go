package docker

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteContext(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"Dockerfile":         "FROM scratch\n",
		".dockerignore":      "*.log\n.git\nbuild\n!build/keep.txt\n",
		"main.go":            "package main\n",
		"debug.log":          "x",
		".git/HEAD":          "ref",
		"build/out.bin":      "x",
		"build/keep.txt":     "k",
		"sub/dir/nested.txt": "n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := writeContext(&buf, dir, "Dockerfile"); err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			got = append(got, hdr.Name)
		}
	}
	slices.Sort(got)
	want := []string{".dockerignore", "Dockerfile", "build/keep.txt", "main.go", "sub/dir/nested.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("got files %q, want %q", got, want)
	}
}
