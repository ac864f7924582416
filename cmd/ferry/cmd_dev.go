package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// DevOptions are the flags of `ferry dev`.
type DevOptions struct {
	IP       string
	Port     int
	UIPort   int
	DBFile   string
	NoWorker bool
	// UICodecEndpoint is the codec server the embedded UI decodes payloads with.
	UICodecEndpoint string
	// TLSServerCert and TLSServerKey turn TLS on for the frontend; TLSClientCA makes it mutual.
	TLSServerCert, TLSServerKey, TLSClientCA string
	// Exec configures the in-process worker's commands. Without --exec-allow (or exec.allow in the worker
	// configuration) it allows every program under the exec root.
	Exec ExecOptions
	// Config is the in-process worker's configuration file. Empty means ./ferry-worker.yaml when it exists
	// (runDev looks); startStack reads no file for an empty Config.
	Config string
	// Router names the traffic router of the in-process worker.
	Router RouterAccess
	// Vault is where the in-process worker resolves secret references.
	Vault VaultAccess
	// Install names the in-process worker's install on its Docker engines; empty means the task queue.
	Install string
}

// serverFlags are the flags of the embedded server, shared by `ferry dev` and `ferry demo`.
func serverFlags(ip *string, port, uiPort *int) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ip", Usage: "`IP` the server and UI listen on", EnvVars: []string{"FERRY_DEV_IP"}, Value: "127.0.0.1", Destination: ip},
		&cli.IntFlag{Name: "port", Usage: "Temporal frontend `PORT`", EnvVars: []string{"FERRY_DEV_PORT"}, Value: 7233, Destination: port},
		// 0 lets the server choose: 8233 with the default --port, --port + 1000 otherwise, so that a second
		// `ferry dev --port 7234` does not collide on the UI.
		&cli.IntFlag{Name: "ui-port", Usage: "Web UI `PORT` (-1 disables the UI)", EnvVars: []string{"FERRY_DEV_UI_PORT"}, DefaultText: "8233, or --port + 1000", Destination: uiPort},
	}
}

func newDevCommand(g *GlobalOptions) *cli.Command {
	var opts DevOptions
	return &cli.Command{
		Name:  "dev",
		Usage: "run an embedded Temporal server with its Web UI and a Ferry worker, until Ctrl-C",
		Description: "For a laptop: Temporal on SQLite (in memory, or --db-file to keep releases across restarts), the\n" +
			"Web UI, Ferry's search attributes and an in-process worker. Other ferry commands reach it with their\n" +
			"defaults.\n\n" +
			"With --tls-server-cert and --tls-server-key the frontend serves TLS, and with --tls-client-ca mutual TLS.\n" +
			"The Web UI and the in-process worker still connect: unless the client TLS flags say otherwise, they use\n" +
			"a client certificate that this process makes and the server trusts.\n\n" +
			"The worker resolves platform.exec.dir against --exec-root (default: the directory ferry dev runs in),\n" +
			"so run it where your ferry.yaml is, and runs every program below that root unless --exec-allow (or the\n" +
			"exec section of --config, default ./ferry-worker.yaml if present) says otherwise.",
		Flags: append(append(serverFlags(&opts.IP, &opts.Port, &opts.UIPort),
			&cli.StringFlag{Name: "db-file", Usage: "SQLite `FILE` that keeps the server's state (default: in memory)", EnvVars: []string{"FERRY_DEV_DB_FILE"}, Destination: &opts.DBFile},
			&cli.StringFlag{Name: "ui-codec-endpoint", Usage: "`URL` of a codec server (ferry codec-server) the embedded UI decodes encrypted payloads with",
				EnvVars: []string{"FERRY_DEV_UI_CODEC_ENDPOINT"}, Destination: &opts.UICodecEndpoint},
			&cli.BoolFlag{Name: "no-worker", Usage: "run no worker (run `ferry worker` yourself)", EnvVars: []string{"FERRY_DEV_NO_WORKER"}, Destination: &opts.NoWorker},
			&cli.StringFlag{Name: "tls-server-cert", Usage: "serve TLS with this certificate `FILE` (PEM, with its intermediates)", EnvVars: []string{"FERRY_DEV_TLS_SERVER_CERT"}, Destination: &opts.TLSServerCert},
			&cli.StringFlag{Name: "tls-server-key", Usage: "private key `FILE` (PEM) of --tls-server-cert", EnvVars: []string{"FERRY_DEV_TLS_SERVER_KEY"}, Destination: &opts.TLSServerKey},
			configFlag(&opts.Config),
			installFlag(&opts.Install),
			&cli.StringFlag{Name: "tls-client-ca", Usage: "require client certificates signed by a CA in this `FILE` (PEM): mutual TLS", EnvVars: []string{"FERRY_DEV_TLS_CLIENT_CA"}, Destination: &opts.TLSClientCA},
		), append(append(execFlags(&opts.Exec, "every program under --exec-root"), routerAccessFlags(&opts.Router)...), vaultFlags(&opts.Vault)...)...),
		Action: action(func(c *cli.Context) error { return runDev(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// devDoc is the JSON document `ferry dev` prints once it is up.
type devDoc struct {
	Address   string `json:"address"`
	Namespace string `json:"namespace"`
	UIURL     string `json:"uiUrl,omitempty"`
	TaskQueue string `json:"taskQueue,omitempty"`
	// TLS is "tls" or "mutual" when the frontend serves TLS.
	TLS string `json:"tls,omitempty"`
}

func runDev(ctx context.Context, opts DevOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("dev", args); err != nil {
		return err
	}
	opts.Config = configPath(opts.Config)
	s, err := startStack(ctx, g, opts)
	if err != nil {
		return err
	}
	doc := devDoc{Address: s.g.Address, Namespace: g.Namespace, UIURL: s.g.UIURL}
	switch {
	case s.server.MutualTLS():
		doc.TLS = "mutual"
	case s.server.ClientTLS() != nil:
		doc.TLS = "tls"
	}
	if !opts.NoWorker {
		doc.TaskQueue = g.TaskQueue
	}
	err = g.printer().emit(doc, func(w io.Writer) {
		security := ""
		switch doc.TLS {
		case "mutual":
			security = ", mutual TLS"
		case "tls":
			security = ", TLS"
		}
		fmt.Fprintf(w, "Temporal  %s (namespace %s%s)\n", doc.Address, doc.Namespace, security)
		if doc.UIURL != "" {
			fmt.Fprintf(w, "Web UI    %s\n", doc.UIURL)
		}
		if doc.TaskQueue != "" {
			fmt.Fprintf(w, "Worker    task queue %s\n", doc.TaskQueue)
		}
		fmt.Fprintln(w, "Ready. Stop with Ctrl-C.")
	})
	if err == nil {
		<-ctx.Done()
	}
	return errors.Join(err, s.stop())
}
