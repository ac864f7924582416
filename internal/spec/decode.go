package spec

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks the YAML node tree into a Spec by reflection over the yaml struct tags, so that every field
// is known by name (for unknown-field errors) and every value by line.
type decoder struct {
	*source
	problems []Problem
	// budget is how many more nodes decoding may visit, aliases counted each time they are followed. A few
	// KB of anchors can stand for billions of nodes; past the budget decoding stops with one problem.
	budget int
	// exhausted is set once the budget ran out.
	exhausted bool
	// merging holds the mappings whose pairs are being collected, to catch a merge key that refers to a
	// mapping containing it.
	merging map[*yaml.Node]bool
}

// maxNodes bounds the nodes a spec decodes to, counting each alias as the nodes it stands for. A large real
// spec has a few hundred; an alias bomb has billions. Reaching it takes milliseconds.
const maxNodes = 20_000

// spend takes one node from the budget and reports whether decoding may go on. The first node past the budget
// records the problem, at its own line.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.exhausted {
		return false
	}
	if d.budget--; d.budget >= 0 {
		return true
	}
	d.exhausted = true
	d.problems = append(d.problems, Problem{File: d.file, Line: n.Line,
		Message: fmt.Sprintf("the spec expands to more than %d values (YAML aliases are expanded where they are used): write it without so many aliases", maxNodes)})
	return false
}

var (
	durationType = reflect.TypeFor[Duration]()
	gateType     = reflect.TypeFor[Gate]()
)

// fail records that the value at path did not decode. The line is that of the value's key, if known.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line, ok := d.lines[path]
	if !ok {
		line = n.Line
	}
	d.bad[path] = true
	d.report(line, path, format, args...)
}

// report records a problem that leaves the value at path usable.
func (d *decoder) report(line int, path, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// value decodes n (neither null nor an alias) into v.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	if !d.spend(n) {
		return
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, path, v)
		return
	case v.Type() == gateType && n.Kind != yaml.MappingNode:
		if n.Kind != yaml.ScalarNode || n.Value != "auto" {
			d.fail(n, path, `must be "auto" or a mapping with approval and/or window, got %s`, describe(n))
			return
		}
		v.Addr().Interface().(*Gate).Auto = true
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, path, v.Elem())
	case reflect.Struct:
		d.structure(n, path, v)
	case reflect.Slice:
		d.list(n, path, v)
	case reflect.Map:
		d.dict(n, path, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" {
			d.fail(n, path, "must be a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "must be true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
			d.fail(n, path, "must be a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "must be an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	default:
		panic("spec: no YAML decoding for " + v.Type().String())
	}
}

// duration decodes a time.ParseDuration string such as "90s" or "5m". Negative durations are rejected.
func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	dur, err := time.ParseDuration(n.Value)
	switch {
	case n.Kind != yaml.ScalarNode || err != nil:
		d.fail(n, path, "must be a duration like 5m, got %s", describe(n))
	case dur < 0:
		d.fail(n, path, "must not be negative, got %s", describe(n))
	default:
		v.SetInt(int64(dur))
	}
}

// structure decodes a mapping into a struct, field by field, rejecting keys the struct does not have.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	names, fields := yamlFields(v.Type())
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.fail(n, path, "the spec must be a mapping, got %s", describe(n))
			return
		}
		d.fail(n, path, "must be a mapping (fields: %s), got %s", strings.Join(names, ", "), describe(n))
		return
	}
	var meant []string
	for _, kv := range d.pairs(n, path) {
		p := field(path, kv.key)
		i, ok := fields[kv.key]
		if !ok {
			if s := suggest(kv.key, names); s != "" {
				d.fail(kv.keyNode, p, "unknown field (did you mean %q?)", s)
				meant = append(meant, field(path, s))
			} else {
				d.fail(kv.keyNode, p, "unknown field (known: %s)", strings.Join(names, ", "))
			}
			continue
		}
		d.lines[p] = kv.keyNode.Line
		val, f := resolve(kv.val), v.FieldByIndex(i)
		if isNull(val) {
			// An empty key turns an optional section on with its defaults: "pause:" waits for a human.
			if f.Kind() == reflect.Pointer {
				f.Set(reflect.New(f.Type().Elem()))
				d.set[p] = true
			}
			continue
		}
		d.set[p] = true
		d.value(val, p, f)
	}
	// A misspelt field was meant to be set: keep validation from also calling it missing.
	for _, p := range meant {
		if _, written := d.lines[p]; !written {
			d.bad[p] = true
		}
	}
}

// yamlFields lists a struct's YAML field names in declaration order and maps them to field index paths. The
// fields of an embedded struct tagged `yaml:",inline"` count as the struct's own.
func yamlFields(t reflect.Type) ([]string, map[string][]int) {
	var names []string
	index := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.Anonymous && opts == "inline" && f.Type.Kind() == reflect.Struct {
			inner, innerIndex := yamlFields(f.Type)
			for _, n := range inner {
				names = append(names, n)
				index[n] = append([]int{i}, innerIndex[n]...)
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		index[name] = []int{i}
	}
	return names, index
}

func (d *decoder) list(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			// Most likely a command line written as one string: show it as the argv it should be.
			d.fail(n, path, "must be a list like [%s], got %s", strings.Join(strings.Fields(n.Value), ", "), describe(n))
			return
		}
		d.fail(n, path, "must be a list, got %s", describe(n))
		return
	}
	items := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := index(path, i)
		d.lines[p] = item.Line
		if item = resolve(item); !isNull(item) {
			d.set[p] = true
			d.value(item, p, items.Index(i))
		}
	}
	v.Set(items)
}

// dict decodes a mapping with string keys. String values may be any scalar (LOG_LEVEL: debug, DEBUG: true,
// PORT: 8080) because they end up in environment variables; null is the empty string. Struct values (metrics)
// decode field by field; null is the zero value.
func (d *decoder) dict(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := field(path, kv.key)
		d.lines[p] = kv.keyNode.Line
		d.set[p] = true
		val := resolve(kv.val)
		if v.Type().Elem().Kind() == reflect.Struct {
			// A mapping of named sections (metrics): each value decodes like any struct.
			item := reflect.New(v.Type().Elem()).Elem()
			if !isNull(val) {
				d.value(val, p, item)
			}
			m.SetMapIndex(reflect.ValueOf(kv.key), item)
			continue
		}
		if val.Kind != yaml.ScalarNode {
			d.fail(val, p, "must be a string, got %s", describe(val))
			continue
		}
		value := val.Value
		if isNull(val) {
			value = ""
		}
		m.SetMapIndex(reflect.ValueOf(kv.key), reflect.ValueOf(value))
	}
	v.Set(m)
}

type pair struct {
	key          string
	keyNode, val *yaml.Node
}

// pairs returns a mapping's key/value pairs with YAML merge keys (<<: *anchor) expanded; keys written in the
// mapping itself win over merged ones. Duplicate and non-string keys are problems.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	if d.merging[n] {
		d.fail(n, path, "a merge key (<<) refers to a mapping that contains it")
		return nil
	}
	if d.merging == nil {
		d.merging = map[*yaml.Node]bool{}
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	var own, merged []pair
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.spend(k) {
			return nil
		}
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			merged = append(merged, d.merge(val, field(path, k.Value))...)
			continue
		case k.Kind != yaml.ScalarNode:
			d.report(k.Line, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			d.report(k.Line, field(path, k.Value), "duplicate field (first set on line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		own = append(own, pair{k.Value, k, val})
	}
	for _, kv := range merged {
		if _, ok := first[kv.key]; !ok {
			first[kv.key] = kv.keyNode.Line
			own = append(own, kv)
		}
	}
	return own
}

// merge returns the pairs a merge key brings in: from one mapping, or from a list of them (earlier ones win).
func (d *decoder) merge(n *yaml.Node, path string) []pair {
	n = resolve(n)
	if !d.spend(n) {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		return d.pairs(n, path)
	}
	if n.Kind == yaml.SequenceNode {
		var all []pair
		for _, m := range n.Content {
			all = append(all, d.merge(m, path)...)
		}
		return all
	}
	d.fail(n, path, "must be a mapping or a list of mappings, got %s", describe(n))
	return nil
}

// resolve follows aliases (*anchor) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node holds for a "got ..." message: quoted strings, bare numbers and booleans.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!str" {
		return QuoteValue(n.Value)
	}
	return Truncate(n.Value, maxValueLen)
}
