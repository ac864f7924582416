package migrate

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walk calls fn for every node of the tree under m (m included when it is a node), parents before children.
// It reaches every field of every message through protobuf reflection, so that no kind of node is skipped.
func walk(m proto.Message, fn func(*pg.Node)) {
	if n, ok := m.(*pg.Node); ok {
		if n == nil || n.Node == nil {
			return
		}
		fn(n)
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return
	}
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap() || fd.Message() == nil:
		case fd.IsList():
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				walk(list.Get(i).Message().Interface(), fn)
			}
		default:
			walk(v.Message().Interface(), fn)
		}
		return true
	})
}

// columnRefs returns the column names that expr refers to (the last part of each reference), in order,
// without repeats.
func columnRefs(expr *pg.Node) []string {
	var out []string
	seen := map[string]bool{}
	if expr == nil {
		return nil
	}
	walk(expr, func(n *pg.Node) {
		fields := n.GetColumnRef().GetFields()
		if len(fields) == 0 {
			return
		}
		name := fields[len(fields)-1].GetString_().GetSval()
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	})
	return out
}

// names returns the String values of a list of name nodes, such as a column list or a qualified name.
func names(nodes []*pg.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.GetString_().GetSval())
	}
	return out
}

// joinNames joins a qualified name: "schema.name".
func joinNames(nodes []*pg.Node) string { return strings.Join(names(nodes), ".") }

// funcName is a function's name as called, lower-case, and whether it is a built-in name: unqualified or
// qualified with pg_catalog.
func funcName(f *pg.FuncCall) (string, bool) {
	parts := names(f.Funcname)
	if len(parts) == 0 {
		return "", false
	}
	name := strings.ToLower(parts[len(parts)-1])
	return name, len(parts) == 1 || strings.EqualFold(parts[0], "pg_catalog")
}

// objectName names the object of a DROP, RENAME or SET SCHEMA: "schema.name", or "name(args)" for a function.
func objectName(obj *pg.Node) string {
	switch n := obj.GetNode().(type) {
	case *pg.Node_List:
		return strings.Join(names(n.List.Items), ".")
	case *pg.Node_String_:
		return n.String_.Sval
	case *pg.Node_TypeName:
		return strings.Join(names(n.TypeName.Names), ".")
	case *pg.Node_ObjectWithArgs:
		return strings.Join(names(n.ObjectWithArgs.Objname), ".") + "()"
	}
	return "(unnamed)"
}

// kindName is the lower-case name of an object type, as a message says it: "table", "materialized view".
func kindName(t pg.ObjectType) string {
	switch t {
	case pg.ObjectType_OBJECT_MATVIEW:
		return "materialized view"
	case pg.ObjectType_OBJECT_TABCONSTRAINT, pg.ObjectType_OBJECT_DOMCONSTRAINT:
		return "constraint"
	case pg.ObjectType_OBJECT_STATISTIC_EXT:
		return "statistics object"
	case pg.ObjectType_OBJECT_FDW:
		return "foreign-data wrapper"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(t.String(), "OBJECT_")), "_", " ")
}

// tableName is a relation as written: "schema.table" or "table". Two spellings of one table (with and without
// its schema) count as different tables.
func tableName(r *pg.RangeVar) string {
	if r == nil {
		return ""
	}
	if r.Schemaname != "" {
		return r.Schemaname + "." + r.Relname
	}
	return r.Relname
}

// newName is the relation r renamed to name, in r's schema.
func newName(r *pg.RangeVar, name string) string {
	if r.Schemaname != "" {
		return r.Schemaname + "." + name
	}
	return name
}

func orUnnamed(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}
