package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with a spec. File and Line are empty for a Spec that was not parsed from YAML;
// Path is empty for problems with the file as a whole (a YAML syntax error, an empty file).
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// String formats the problem as "FILE:LINE: PATH: message", leaving out the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the error Parse, Load and Validate return for an invalid spec. It lists every problem found,
// sorted by line, so that one run of `ferry validate` shows them all.
type Problems struct {
	List []Problem `json:"problems"`
}

// Error returns one line per problem.
func (ps *Problems) Error() string {
	lines := make([]string, len(ps.List))
	for i, p := range ps.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// errOrNil sorts the problems by line and returns them as an error, or nil if there are none.
func errOrNil(list []Problem) error {
	if len(list) == 0 {
		return nil
	}
	for i := range list {
		// Messages quote values through QuoteValue; this is the backstop for any that does not. A path holds
		// the user's keys, which may hide control characters or invisible ones: escape those.
		list[i].Path = Truncate(list[i].Path, maxMessageLen)
		if q := strconv.QuoteToGraphic(list[i].Path); q[1:len(q)-1] != list[i].Path {
			list[i].Path = q
		}
		list[i].Message = Truncate(list[i].Message, maxMessageLen)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	if len(list) > maxProblems {
		last := list[maxProblems-1]
		list = append(list[:maxProblems:maxProblems], Problem{File: last.File, Line: last.Line,
			Message: fmt.Sprintf("and %d more problems", len(list)-maxProblems)})
	}
	return &Problems{List: list}
}

// maxValueLen is how many bytes of a value a message quotes: a 5 MB service name must not print 5 MB.
const maxValueLen = 100

// maxProblems is how many problems a report lists: a spec with thousands shows the first ones and a count.
const maxProblems = 50

// maxMessageLen bounds a problem's message and path.
const maxMessageLen = 400

// Truncate shortens s to about n bytes, on a UTF-8 boundary, and says how long it was.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}

// QuoteValue quotes a user's value for a message, truncated to maxValueLen bytes, with unprintable
// characters escaped.
func QuoteValue(s string) string {
	if len(s) <= maxValueLen {
		return strconv.Quote(s)
	}
	cut := maxValueLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
