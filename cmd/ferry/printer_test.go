package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

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

func TestFit(t *testing.T) {
	tests := []struct {
		line  string
		width int
		want  string
	}{
		{"checkout 1.4.2: production canary, step 2/3", 44, "checkout 1.4.2: production canary, step 2/3"},
		{"checkout 1.4.2: production canary, step 2/3", 43, "checkout 1.4.2: production canary, step 2/3"},
		{"checkout 1.4.2: production canary, step 2/3", 20, "checkout 1.4.2: pro…"},
		{"checkout 1.4.2: production canary, step 2/3", 1, "…"},
		{"checkout 1.4.2: production canary, step 2/3", 0, "checkout 1.4.2: production canary, step 2/3"},
		{"kasse 1.0: größe, ümlaut", 12, "kasse 1.0: …"},
		{"kasse 1.0: größe", 16, "kasse 1.0: größe"},
	}
	for _, tt := range tests {
		got := fit(tt.line, tt.width)
		if got != tt.want {
			t.Errorf("fit(%q, %d): got %q, want %q", tt.line, tt.width, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); tt.width > 0 && n > tt.width {
			t.Errorf("fit(%q, %d): got %d characters", tt.line, tt.width, n)
		}
	}
}

// TestPrinterWidth gives the printer a real terminal (a pseudo-terminal 45 columns wide): it reads the width;
// a pipe has none.
func TestPrinterWidth(t *testing.T) {
	_, tty := openPTY(t, 45)
	if got := newPrinter(tty, outputText).width(); got != 45 {
		t.Errorf("width of a 45-column terminal: got %d", got)
	}
	if got := newPrinter(tty, outputJSON).width(); got != 0 {
		t.Errorf("width with JSON output: got %d, want 0", got)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got := newPrinter(w, outputText).width(); got != 0 {
		t.Errorf("width of a pipe: got %d, want 0", got)
	}
}

// openPTY opens a pseudo-terminal of cols columns and returns its two ends: what is written to tty can be read
// from ptmx.
func openPTY(t *testing.T, cols int) (ptmx, tty *os.File) {
	t.Helper()
	var err error
	ptmx, err = os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatal(errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatal(errno)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	ws := struct{ rows, cols, x, y uint16 }{rows: 24, cols: uint16(cols)}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, tty.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); errno != 0 {
		t.Fatal(errno)
	}
	return ptmx, tty
}
