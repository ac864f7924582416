package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Completion scripts. Bash and zsh ask ferry itself for the candidates (urfave/cli's
// --generate-bash-completion), so they follow the commands and flags of the binary; fish gets a static script
// generated from them.
const (
	bashCompletion = `# bash completion for ferry: source <(ferry completion bash)
_ferry_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o bashdefault -o default -F _ferry_complete ferry
`
	zshCompletion = `#compdef ferry
# zsh completion for ferry: source <(ferry completion zsh), or save as _ferry in a directory of $fpath
_ferry() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _ferry ferry
`
)

func newCompletionCommand(g *GlobalOptions) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		ArgsUsage: "SHELL",
		Description: "Load it in the current shell, or add the line to the shell's startup file:\n" +
			"   bash:  source <(ferry completion bash)\n" +
			"   zsh:   source <(ferry completion zsh)\n" +
			"   fish:  ferry completion fish | source",
		Action: action(func(c *cli.Context) error { return runCompletion(c.App, *g, c.Args().Slice()) }),
	}
}

func runCompletion(app *cli.App, g GlobalOptions, args []string) error {
	if err := requireArgs("completion", args, "SHELL"); err != nil {
		return err
	}
	var script string
	switch args[0] {
	case "bash":
		script = bashCompletion
	case "zsh":
		script = zshCompletion
	case "fish":
		s, err := app.ToFishCompletion()
		if err != nil {
			return fmt.Errorf("generate fish completion: %w", err)
		}
		script = s
	default:
		return usagef("completion", "unknown shell %q, want bash, zsh or fish", args[0])
	}
	_, err := fmt.Fprint(g.stdout, script)
	return err
}
