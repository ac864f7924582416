package activities

import (
	"reflect"
	"slices"
	"testing"

	"github.com/ferryhq/ferry/internal/spec"
)

// The spec validates templates against its own copy of the variables (it cannot import this package).
func TestTemplateVarsMatchSpecValidation(t *testing.T) {
	typ := reflect.TypeFor[TemplateVars]()
	var got []string
	for i := range typ.NumField() {
		got = append(got, "."+typ.Field(i).Name)
	}
	want := spec.TemplateVarNames()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("activities.TemplateVars fields %v, spec validation knows %v", got, want)
	}
}
