package spec

import "time"

// PlatformExec is the Kind of the exec platform.
const PlatformExec = "exec"

// Kind names the platform's driver: the key of the one member that is set ("exec", "docker"), or "" when none
// is. Workers register their drivers under these names.
func (p Platform) Kind() string {
	switch {
	case p.Exec != nil:
		return PlatformExec
	case p.Docker != nil:
		return PlatformDocker
	}
	return ""
}

// Limits returns the platform's bound on one operation and on the readiness wait, zero where the spec leaves
// them to the defaults. Workflows size their activity timeouts from them without knowing the platform.
func (p Platform) Limits() (op, ready time.Duration) {
	if p.Exec != nil {
		return p.Exec.Timeout.D(), p.Exec.ReadyTimeout.D()
	}
	if p.Docker != nil {
		return p.Docker.Timeout.D(), p.Docker.Readiness.Timeout.D()
	}
	return 0, 0
}

// TellsCurrent reports whether the platform can say which version serves an environment now. The exec
// platform can only with a current command; the Docker platform reads its containers' labels.
func (p Platform) TellsCurrent() bool {
	if p.Exec != nil {
		return len(p.Exec.Current) > 0
	}
	return p.Docker != nil
}
