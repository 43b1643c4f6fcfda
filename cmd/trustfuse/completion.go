package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// The bash and zsh scripts ask the binary itself for candidates: urfave/cli
// (EnableBashCompletion) answers a command line ending in
// --generate-bash-completion with the subcommands, or with the flags when
// the word being completed starts with "-". Fish gets a static script
// generated from the command tree.

// bashCompletion is the script `trustfuse completion bash` prints.
const bashCompletion = `# bash completion for trustfuse.
# Load it with: source <(trustfuse completion bash)
_trustfuse_complete() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local -a before=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
  local candidates
  if [[ $cur == -* ]]; then
    candidates=$("${COMP_WORDS[0]}" "${before[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    candidates=$("${COMP_WORDS[0]}" "${before[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o bashdefault -o default -F _trustfuse_complete trustfuse
`

// zshCompletion is the script `trustfuse completion zsh` prints. With the
// environment variable "0" ending in zsh (set through env(1): zsh cannot
// export $0), urfave prints commands as "name:description" pairs, which
// _describe shows.
const zshCompletion = `#compdef trustfuse
# zsh completion for trustfuse.
# Load it with: source <(trustfuse completion zsh)   (after compinit)
_trustfuse() {
  local cur=${words[CURRENT]}
  local -a candidates
  if [[ $cur == -* ]]; then
    candidates=("${(@f)$(env 0=zsh ${words[1]} ${words[2,CURRENT-1]} $cur --generate-bash-completion 2>/dev/null)}")
  else
    candidates=("${(@f)$(env 0=zsh ${words[1]} ${words[2,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n ${candidates[1]} ]]; then
    _describe 'trustfuse' candidates
  else
    _files
  fi
}
compdef _trustfuse trustfuse
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash:  source <(trustfuse completion bash)    (or save it in /etc/bash_completion.d/trustfuse)\n" +
			"zsh:   source <(trustfuse completion zsh)     (after compinit; or save it as _trustfuse in $fpath)\n" +
			"fish:  trustfuse completion fish > ~/.config/fish/completions/trustfuse.fish",
		Action: func(c *cli.Context) error {
			if err := checkArgs(c, 1, 1); err != nil {
				return err
			}
			var script string
			switch shell := c.Args().First(); shell {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				script = s
			default:
				return usageErrorf(c, "unknown shell %q: want bash, zsh or fish", shell)
			}
			_, err := fmt.Fprint(c.App.Writer, strings.TrimLeft(script, "\n"))
			return err
		},
	}
}
