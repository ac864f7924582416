package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/spec"
)

// ValidateOptions are the flags of `ferry validate`; it has none yet.
type ValidateOptions struct{}

func newValidateCommand(g *GlobalOptions) *cli.Command {
	var opts ValidateOptions
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a ferry.yaml and list every problem in it",
		ArgsUsage: "FILE",
		Description: "Parses the spec, applies defaults and validates it without contacting Temporal.\n" +
			"Prints \"FILE: ok\", or every problem as FILE:LINE: FIELD: message and exits with code 2.",
		Action: action(func(c *cli.Context) error { return runValidate(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// validateDoc is the JSON document of `ferry validate`.
type validateDoc struct {
	File     string         `json:"file"`
	OK       bool           `json:"ok"`
	Problems []spec.Problem `json:"problems"`
	// Warnings do not make the spec invalid: a relative program that does not exist here, for one.
	Warnings []string `json:"warnings,omitempty"`
}

func runValidate(ctx context.Context, _ ValidateOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("validate", args, "FILE"); err != nil {
		return err
	}
	path := args[0]
	s, err := loadSpec(ctx, path)
	if errors.Is(err, context.Canceled) {
		return err
	}
	doc := validateDoc{File: path, OK: err == nil, Problems: []spec.Problem{}}
	var problems *spec.Problems
	if errors.As(err, &problems) {
		doc.Problems = problems.List
	} else if err != nil {
		return err
	}
	if s != nil {
		doc.Warnings = spec.MissingPrograms(s)
	}
	// Warnings and problems go to stderr, so text mode prints only success here.
	for _, w := range doc.Warnings {
		if !g.printer().json {
			fmt.Fprintf(g.stderr, "warning: %s: %s\n", path, w)
		}
	}
	if perr := g.printer().emit(doc, func(w io.Writer) {
		if doc.OK {
			fmt.Fprintf(w, "%s: ok\n", path)
		}
	}); perr != nil {
		return perr
	}
	return err
}

// loadSpec loads the spec at path; its errors name the path as the user gave it. Loading is bounded in time
// and memory, but it reads a file that may be a pipe: it returns ctx's error as soon as ctx is done.
func loadSpec(ctx context.Context, path string) (*spec.Spec, error) {
	type loaded struct {
		s   *spec.Spec
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		s, err := spec.Load(path)
		done <- loaded{s, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case l := <-done:
		if l.err != nil {
			return nil, &specError{path: path, err: l.err}
		}
		return l.s, nil
	}
}
