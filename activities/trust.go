package activities

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// The trust boundary. Whoever can start a Release workflow writes its input, spec and argv included, so the
// worker does not take the input's word for what to run: every command is checked against the worker's own
// ExecPolicy, first by Admit for the whole spec before anything runs, then again by each command activity right
// before it starts its command.

// ExecPolicy is what the worker's configuration allows commands to do. The worker builds one from its flags and
// gives the same policy to Platform and Checks. Its zero value allows nothing: no program matches an empty
// allowlist, and without a Root no working directory resolves.
type ExecPolicy struct {
	// Root is the absolute directory that platform.exec.dir resolves against: the worker's copy of the spec's
	// directory. A dir may not leave it.
	Root string
	// Allow holds the glob patterns of the programs commands may run (see AllowedProgram).
	Allow []string
	// Env is the whole environment of every command before Ferry adds its FERRY_* variables: KEY=value entries,
	// usually PATH, HOME and the variables the worker was told to pass. Nothing else of the worker's environment
	// reaches a command.
	Env []string
}

// Redactor rewrites a string that leaves an activity (an error message, error details, a heartbeat, a check
// result) so that it holds no secret. It is the one redaction hook: Platform and Checks pass every such string
// through it. It must be safe for concurrent use.
type Redactor interface {
	Redact(s string) string
}

// RedactFunc adapts a function to Redactor.
type RedactFunc func(string) string

// Redact calls f(s).
func (f RedactFunc) Redact(s string) string { return f(s) }

// redact applies r to s; a nil Redactor changes nothing.
func redact(r Redactor, s string) string {
	if r == nil || s == "" {
		return s
	}
	return r.Redact(s)
}

// ResolveDir returns the absolute working directory for dir, the spec's platform.exec.dir: relative to Root
// ("" and "." are Root itself). An absolute dir is accepted only inside Root (releases started before dirs were
// sent relative carry one). A dir that leaves Root, through ".." or otherwise, is refused, and so is any dir
// when Root is not set.
func (p *ExecPolicy) ResolveDir(dir string) (string, error) {
	if p.Root == "" || !filepath.IsAbs(p.Root) {
		return "", fmt.Errorf("the worker has no absolute exec root (--exec-root) to resolve the working directory %q against", dir)
	}
	root := filepath.Clean(p.Root)
	resolved := filepath.Join(root, dir)
	if filepath.IsAbs(dir) {
		resolved = filepath.Clean(dir)
	}
	if !within(root, resolved) {
		return "", fmt.Errorf("working directory %q leaves the worker's exec root %s", dir, root)
	}
	return resolved, nil
}

// within reports whether path is root or below it; both are clean and absolute.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// AllowedProgram checks the program of a command (its argv[0], rendered) that runs in dir, an absolute working
// directory, against Allow. It returns nil when a pattern matches, and otherwise an error that names the program
// and the rule.
//
// Patterns with a '/' match the program's absolute path: a relative program (./deploy.sh) joins dir, and a bare
// name (kubectl) is looked up in the PATH of Env. In them '*' and '?' match within one path element and a "**"
// element matches any number of elements, so /srv/ferry/** allows everything below /srv/ferry. A pattern without
// a '/' matches a bare program name as written, so "kubectl" allows kubectl from the PATH but not ./kubectl.
// Paths are cleaned, not resolved through symbolic links: the operator controls what the allowed paths hold.
func (p *ExecPolicy) AllowedProgram(program, dir string) error {
	if program == "" {
		return fmt.Errorf("the program name is empty")
	}
	bare := !strings.ContainsRune(program, '/')
	abs := ""
	switch {
	case filepath.IsAbs(program):
		abs = filepath.Clean(program)
	case !bare:
		abs = filepath.Join(dir, program)
	default:
		abs = lookPath(program, envValue(p.Env, "PATH"))
	}
	for _, pat := range p.Allow {
		if strings.ContainsRune(pat, '/') {
			if abs != "" && matchPath(pat, abs) {
				return nil
			}
		} else if bare {
			if ok, _ := path.Match(pat, program); ok {
				return nil
			}
		}
	}
	shown := program
	if abs != "" && abs != program {
		shown = fmt.Sprintf("%s (%s)", program, abs)
	}
	if len(p.Allow) == 0 {
		return fmt.Errorf("program %s is not allowed: the worker allows no programs (--exec-allow, FERRY_EXEC_ALLOW)", shown)
	}
	return fmt.Errorf("program %s is not allowed: it matches none of the worker's --exec-allow patterns %s",
		shown, strings.Join(p.Allow, ", "))
}

// matchPath matches a clean absolute path against a pattern of '/'-separated glob elements, where an element
// "**" matches zero or more elements.
func matchPath(pattern, name string) bool {
	return matchElems(strings.Split(path.Clean(pattern), "/"), strings.Split(filepath.ToSlash(name), "/"))
}

func matchElems(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := len(name); i >= 0; i-- {
				if matchElems(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// lookPath finds a bare program name in the directories of pathList, as the command will (its environment is
// Env), and returns "" when none holds an executable file of that name.
func lookPath(program, pathList string) string {
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // exec refuses programs found through relative PATH entries
		}
		candidate := filepath.Join(dir, program)
		if fi, err := os.Stat(candidate); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return candidate
		}
	}
	return ""
}

// envValue returns the value of name in a list of KEY=value entries (the last one wins, as in exec).
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// checkCommand applies the policy to a command about to run: it resolves dir and checks the program. The error
// is the non-retryable InvalidSpec failure, naming the field, the program and the rule.
func (p *ExecPolicy) checkCommand(field, program, dir string) (string, error) {
	if p == nil {
		p = &ExecPolicy{}
	}
	resolved, err := p.ResolveDir(dir)
	if err != nil {
		return "", invalidSpec(field+": "+err.Error(), nil)
	}
	if err := p.AllowedProgram(program, resolved); err != nil {
		return "", invalidSpec(field+"[0]: "+err.Error(), nil)
	}
	return resolved, nil
}
