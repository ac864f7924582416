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
}

func runValidate(_ context.Context, _ ValidateOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("validate", args, "FILE"); err != nil {
		return err
	}
	path := args[0]
	_, err := loadSpec(path)
	doc := validateDoc{File: path, OK: err == nil, Problems: []spec.Problem{}}
	var problems *spec.Problems
	if errors.As(err, &problems) {
		doc.Problems = problems.List
	} else if err != nil {
		return err
	}
	// Problems go to stderr with the error, so text mode prints only success here.
	if perr := g.printer().emit(doc, func(w io.Writer) {
		if doc.OK {
			fmt.Fprintf(w, "%s: ok\n", path)
		}
	}); perr != nil {
		return perr
	}
	return err
}

// loadSpec loads the spec at path; its errors name the path as the user gave it.
func loadSpec(path string) (*spec.Spec, error) {
	s, err := spec.Load(path)
	if err != nil {
		return nil, &specError{path: path, err: err}
	}
	return s, nil
}
