package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/workflows"
)

// DecisionOptions are the flags every decision command (approve, abort, pause, resume, promote) shares.
type DecisionOptions struct {
	Version string
	Reason  string
	As      string
}

// Defaults of --version for decisions: which release a decision without it is meant for.
const (
	deployingRelease = "the running release that holds an environment's lock past its gate"
	gateRelease      = "the running release that waits for approval at --env's gate"
)

// flags returns --version, --reason and --as; versionDefault says which release the decision goes to without
// --version, reasonUsage documents --reason for the command.
func (o *DecisionOptions) flags(versionDefault, reasonUsage string) []cli.Flag {
	return []cli.Flag{
		versionFlag(&o.Version, versionDefault),
		&cli.StringFlag{Name: "reason", Usage: reasonUsage, EnvVars: []string{"FERRY_REASON"}, Destination: &o.Reason},
		identityFlag(&o.As),
	}
}

// decisionDoc is the JSON document of a decision command.
type decisionDoc struct {
	starter.Run
	Update   string `json:"update"`
	Identity string `json:"identity"`
	Message  string `json:"message"`
}

// sendFunc sends one decision to a resolved release.
type sendFunc func(ctx context.Context, c client.Client, run starter.Run, identity string) (workflows.UpdateResult, error)

// decide resolves the release of service (at version, or else the running one intent means), sends it one
// decision as identity and prints the workflow's answer. A refusal is a *starter.RejectedError, and a decision
// that could mean several running releases, or none, a *starter.AmbiguousError: both exit code 2.
func decide(ctx context.Context, g GlobalOptions, service string, o DecisionOptions, intent starter.Intent, send sendFunc) error {
	identity := identityOr(o.As)
	update := intent.Decision
	return g.withClient(ctx, func(c client.Client) error {
		run, err := starter.ResolveFor(ctx, c, service, o.Version, intent)
		if err != nil {
			return err
		}
		res, err := send(ctx, c, run, identity)
		if err != nil {
			return err
		}
		doc := decisionDoc{Run: run, Update: update, Identity: identity, Message: res.Message}
		if doc.Message == "" {
			doc.Message = fmt.Sprintf("%s recorded for %s %s", update, run.Service, run.Version)
		}
		return g.printer().emit(doc, func(w io.Writer) { fmt.Fprintln(w, doc.Message) })
	})
}
