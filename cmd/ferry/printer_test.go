package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ferryhq/ferry/starter"
)

func TestPrinter(t *testing.T) {
	rows := []starter.Row{{Service: "checkout", Version: "1.4.2", State: "running", StartTime: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}}
	text := func(w io.Writer) { fmt.Fprintln(w, "a table") }

	var b bytes.Buffer
	p := newPrinter(&b, outputJSON)
	if err := p.emit(rows, text); err != nil {
		t.Fatal(err)
	}
	p.progressf("progress is text only")
	var got []map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, b.String())
	}
	if len(got) != 1 || got[0]["service"] != "checkout" || got[0]["startedAt"] != "2026-03-01T10:00:00Z" {
		t.Errorf("got %v", got)
	}
	if _, ok := got[0]["closedAt"]; ok {
		t.Errorf("got closedAt %v for an open release, want it left out", got[0]["closedAt"])
	}

	b.Reset()
	if err := p.emitLine(map[string]int{"a": 1}, "ignored"); err != nil || b.String() != "{\"a\":1}\n" {
		t.Errorf("emitLine JSON: got %q, %v", b.String(), err)
	}

	b.Reset()
	p = newPrinter(&b, outputText)
	_ = p.emit(rows, text)
	p.progressf("step %d", 2)
	_ = p.emitLine(rows, "a line")
	if want := "a table\nstep 2\na line\n"; b.String() != want {
		t.Errorf("text: got %q, want %q", b.String(), want)
	}
	if p.terminal() {
		t.Error("a buffer is no terminal")
	}
}
