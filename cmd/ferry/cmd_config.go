package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/spec"
)

func newConfigCommand(g *GlobalOptions) *cli.Command {
	diff := &cli.Command{
		Name:      "diff",
		Usage:     "show which config and secret keys differ between two environments of a spec",
		ArgsUsage: "SPEC ENV1 ENV2",
		Description: "Compares the config and secrets of two environments without contacting Temporal or Vault.\n" +
			"A secret shows as its reference (vault:mount/path#key), never its value. Prints the keys that\n" +
			"differ; --output json lists every key with its state (same, changed, only-ENV1, only-ENV2).",
		Action: action(func(c *cli.Context) error { return runConfigDiff(c.Context, *g, c.Args().Slice()) }),
	}
	return &cli.Command{
		Name:        "config",
		Usage:       "inspect the configuration of a spec's environments",
		Subcommands: []*cli.Command{diff},
	}
}

// configSide is a key's value in one environment: plain config, a secret's reference, or absent.
type configSide struct {
	// Kind is "config" or "secret"; empty when the environment does not set the key.
	Kind string `json:"kind,omitempty"`
	// Value is the config value, or the secret's reference.
	Value string `json:"value,omitempty"`
}

// configKey is one key of `ferry config diff`.
type configKey struct {
	Key   string     `json:"key"`
	State string     `json:"state"` // same, changed, only-<env>
	A     configSide `json:"a"`
	B     configSide `json:"b"`
}

// configDiffDoc is the JSON document of `ferry config diff`.
type configDiffDoc struct {
	Spec   string      `json:"spec"`
	A      string      `json:"a"`
	B      string      `json:"b"`
	Keys   []configKey `json:"keys"`
	Differ int         `json:"differ"`
}

// diffConfig compares the config and secrets of environments a and b, keys sorted.
func diffConfig(a, b *spec.Environment) []configKey {
	side := func(e *spec.Environment, k string) configSide {
		if v, ok := e.Secrets[k]; ok {
			return configSide{Kind: "secret", Value: v}
		}
		if v, ok := e.Config[k]; ok {
			return configSide{Kind: "config", Value: v}
		}
		return configSide{}
	}
	keys := map[string]bool{}
	for _, m := range []map[string]string{a.Config, a.Secrets, b.Config, b.Secrets} {
		for k := range m {
			keys[k] = true
		}
	}
	var out []configKey
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		ck := configKey{Key: k, A: side(a, k), B: side(b, k)}
		switch {
		case ck.B.Kind == "":
			ck.State = "only-" + a.Name
		case ck.A.Kind == "":
			ck.State = "only-" + b.Name
		case ck.A == ck.B:
			ck.State = "same"
		default:
			ck.State = "changed"
		}
		out = append(out, ck)
	}
	return out
}

func runConfigDiff(ctx context.Context, g GlobalOptions, args []string) error {
	if err := requireArgs("config diff", args, "SPEC", "ENV1", "ENV2"); err != nil {
		return err
	}
	s, err := loadSpec(ctx, args[0])
	if err != nil {
		return err
	}
	envs := make([]*spec.Environment, 2)
	for i, name := range args[1:] {
		e, ok := s.Env(name)
		if !ok {
			names := make([]string, len(s.Environments))
			for j, e := range s.Environments {
				names[j] = e.Name
			}
			return usagef("config diff", "%s has no environment %q (it has: %v)", args[0], name, names)
		}
		envs[i] = e
	}
	doc := configDiffDoc{Spec: args[0], A: envs[0].Name, B: envs[1].Name, Keys: diffConfig(envs[0], envs[1])}
	if doc.Keys == nil {
		doc.Keys = []configKey{}
	}
	for _, k := range doc.Keys {
		if k.State != "same" {
			doc.Differ++
		}
	}
	return g.printer().emit(doc, func(w io.Writer) {
		if doc.Differ == 0 {
			fmt.Fprintf(w, "%s and %s have the same %d keys\n", doc.A, doc.B, len(doc.Keys))
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "KEY\t%s\t%s\n", doc.A, doc.B)
		show := func(c configSide) string {
			switch c.Kind {
			case "":
				return "-"
			case "secret":
				return "secret " + c.Value
			}
			return c.Value
		}
		for _, k := range doc.Keys {
			if k.State != "same" {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, show(k.A), show(k.B))
			}
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "%d of %d keys differ\n", doc.Differ, len(doc.Keys))
	})
}
