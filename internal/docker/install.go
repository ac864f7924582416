package docker

import "github.com/docker/docker/api/types/filters"

// LabelInstall names the Ferry install that runs a container (see UseInstall).
const LabelInstall = "ferry.install"

// UseInstall scopes c to the Ferry install named name: every container c starts carries LabelInstall=name,
// and c lists, reconciles, removes and supervises only the containers that carry it. Two installs that share
// an engine (each with its own workers and task queue) so never touch each other's containers, not even those
// of a service that both release under the same name. A client without an install (the zero value, or an
// empty name) labels nothing and sees the containers of every install, as a cleanup tool may want; a worker
// always names its install. Call it before the client is used.
func (c *Client) UseInstall(name string) { c.install = name }

// Install is the install c is scoped to, empty when it sees every install's containers.
func (c *Client) Install() string { return c.install }

// scope adds to args the filter that keeps only the containers of c's install, if it has one.
func (c *Client) scope(args filters.Args) filters.Args {
	if c.install != "" {
		args.Add("label", LabelInstall+"="+c.install)
	}
	return args
}
