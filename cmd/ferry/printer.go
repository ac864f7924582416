package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// Output formats of --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// printer is the only way commands write to stdout. In JSON mode a command writes one JSON document (a watch
// writes one per line, per change) and nothing else; progress lines are for text mode only.
type printer struct {
	w    io.Writer
	json bool
	// emitted, if set, records that a JSON document was written: an error after it needs no document of its
	// own.
	emitted *bool
}

func newPrinter(w io.Writer, output string) *printer {
	return &printer{w: w, json: output == outputJSON}
}

// emit writes doc in JSON mode and calls text otherwise.
func (p *printer) emit(doc any, text func(w io.Writer)) error {
	if !p.json {
		text(p.w)
		return nil
	}
	if p.emitted != nil {
		*p.emitted = true
	}
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// emitLine writes doc as one compact JSON line in JSON mode, and the text line otherwise.
func (p *printer) emitLine(doc any, line string) error {
	if !p.json {
		_, err := fmt.Fprintln(p.w, line)
		return err
	}
	return json.NewEncoder(p.w).Encode(doc)
}

// progressf writes a progress line in text mode; JSON mode keeps stdout to its documents.
func (p *printer) progressf(format string, args ...any) {
	if !p.json {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// terminal reports whether text goes to a terminal, where a line can be redrawn in place.
func (p *printer) terminal() bool {
	f, ok := p.w.(*os.File)
	if !ok || p.json {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fallbackWidth is the width of a terminal that does not tell its own.
const fallbackWidth = 80

// width returns the width in columns of the terminal text goes to, or 0 when it goes to none.
func (p *printer) width() int {
	if !p.terminal() {
		return 0
	}
	w, _, err := term.GetSize(int(p.w.(*os.File).Fd()))
	if err != nil || w <= 0 {
		return fallbackWidth
	}
	return w
}

// fit cuts line to at most width characters, ending a cut line with "…", so that a terminal can redraw it in
// place. Characters are runes: a wide one (most CJK) takes two columns and can still make the line wrap. A
// width below 1 leaves the line whole.
func fit(line string, width int) string {
	if width < 1 {
		return line
	}
	runes := []rune(line)
	if len(runes) <= width {
		return line
	}
	return string(runes[:width-1]) + "…"
}
