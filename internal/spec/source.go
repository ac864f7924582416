package spec

import (
	"fmt"
	"strings"
)

// source remembers where each value of a parsed spec came from. Defaults use it to tell an omitted field from
// an explicit zero (replicas: 0 is an error, not a request for the default), and validation uses it to give
// every problem a line. A nil *source stands for a Spec built in Go: nothing is set and nothing has a line.
type source struct {
	file string
	// lines maps a field path to the line of its key, or of its item in a list.
	lines map[string]int
	// set holds the paths written with a non-null value, whether or not the value decoded.
	set map[string]bool
	// bad holds the paths whose value did not decode; validation stays quiet about them and what they hold.
	bad map[string]bool
}

func newSource(file string) *source {
	return &source{file: file, lines: map[string]int{}, set: map[string]bool{}, bad: map[string]bool{}}
}

// isSet reports whether the YAML gave path a value.
func (src *source) isSet(path string) bool { return src != nil && src.set[path] }

// line returns the line of path or, for a field that was left out, of the closest enclosing one.
func (src *source) line(path string) int {
	if src == nil {
		return 0
	}
	for ; path != ""; path = parent(path) {
		if l, ok := src.lines[path]; ok {
			return l
		}
	}
	return 0
}

// broken reports whether path or a field enclosing it failed to decode.
func (src *source) broken(path string) bool {
	if src == nil {
		return false
	}
	for {
		if src.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// field returns the path of a field of the value at path.
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index returns the path of the i-th item of the list at path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// parent strips the last field or index from path.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
