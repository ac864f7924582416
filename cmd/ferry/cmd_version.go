package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version and commit may be set at build time (-ldflags "-X main.version=v1.2.3 -X main.commit=..."); without
// them they come from the build info that `go build` and `go install` embed.
var version, commit string

// versionDoc is what `ferry version` prints.
type versionDoc struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// buildVersion reads the version, the commit (with "-dirty" for a modified tree) and the Go version.
func buildVersion() versionDoc {
	d := versionDoc{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if d.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			d.Version = bi.Main.Version
		}
		var revision, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if d.Commit == "" && revision != "" {
			d.Commit = revision
			if modified == "true" {
				d.Commit += "-dirty"
			}
		}
	}
	if d.Version == "" {
		d.Version = "devel"
	}
	if d.Commit == "" {
		d.Commit = "unknown"
	}
	return d
}

func newVersionCommand(g *GlobalOptions) *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print the version, the commit and the Go version (also: ferry --version)",
		Action: action(func(c *cli.Context) error { return runVersion(*g, c.Args().Slice()) }),
	}
}

func runVersion(g GlobalOptions, args []string) error {
	if err := requireArgs("version", args); err != nil {
		return err
	}
	d := buildVersion()
	return g.printer().emit(d, func(w io.Writer) {
		fmt.Fprintf(w, "ferry %s (commit %s, %s)\n", d.Version, d.Commit, d.GoVersion)
	})
}
