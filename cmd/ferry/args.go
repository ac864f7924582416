package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs lets flags follow arguments, and global flags follow the command, as users type them
// (`ferry status checkout --version 1.4.2 --output json`). urfave/cli v2 stops parsing flags at the first
// argument and knows global flags only before the command, so this moves global flags before the command and the
// command's flags before its arguments. Everything after "--" stays an argument.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1
	var lead []string
	for i < len(args) && isFlag(args[i]) {
		n := flagSpan(args, i, app.Flags)
		lead = append(lead, args[i:i+n]...)
		i += n
	}
	if i >= len(args) {
		return args
	}
	cmd := app.Command(args[i])
	if cmd == nil {
		return args
	}
	var globals, flags, positional []string
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			// Help wins over whatever else was typed; arguments would make it look for a help topic.
			return append(append(append([]string{args[0]}, lead...), args[i]), "--help")
		case a == "--":
			positional = append(positional, args[j+1:]...)
			j = len(args)
		case isFlag(a) && findFlag(cmd.Flags, a) == nil && findFlag(app.Flags, a) != nil:
			n := flagSpan(args, j, app.Flags)
			globals = append(globals, args[j:j+n]...)
			j += n - 1
		case isFlag(a):
			n := flagSpan(args, j, cmd.Flags)
			flags = append(flags, args[j:j+n]...)
			j += n - 1
		default:
			positional = append(positional, a)
		}
	}
	out := append([]string{args[0]}, lead...)
	out = append(out, globals...)
	out = append(out, args[i])
	out = append(out, flags...)
	out = append(out, "--")
	return append(out, positional...)
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// flagSpan is how many arguments the flag at args[i] takes up: two when it takes a value it does not carry
// after "=", else one. An unknown flag counts one; the parser reports it.
func flagSpan(args []string, i int, flags []cli.Flag) int {
	if strings.Contains(args[i], "=") || i+1 >= len(args) {
		return 1
	}
	f := findFlag(flags, args[i])
	if v, ok := f.(cli.DocGenerationFlag); ok && v.TakesValue() {
		return 2
	}
	return 1
}

func findFlag(flags []cli.Flag, arg string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
