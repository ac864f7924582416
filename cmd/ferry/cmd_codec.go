package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/internal/codec"
	"github.com/ferryhq/ferry/worker"
)

// CodecOptions are the global flags of payload encryption. The key set comes from --codec-keys (a file), or
// else from the environment variable FERRY_CODEC_KEYS (the key set itself), or else, for a worker, from the
// codec section of its configuration file.
type CodecOptions struct {
	KeysFile string
	KeyID    string
}

// codecKeysEnv holds a key set itself, for deployments that pass secrets as variables.
const codecKeysEnv = "FERRY_CODEC_KEYS"

func codecFlags(o *CodecOptions) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "codec-keys", Usage: "`FILE` of AES-256 keys, one ID:BASE64 a line, that encrypt payloads on their way to Temporal " +
			"(or the key set itself in $" + codecKeysEnv + ")", EnvVars: []string{"FERRY_CODEC_KEYS_FILE"}, Destination: &o.KeysFile},
		&cli.StringFlag{Name: "codec-key-id", Usage: "`ID` of the key that encrypts; every key of the set decrypts", EnvVars: []string{"FERRY_CODEC_KEY_ID"},
			DefaultText: "the first key", Destination: &o.KeyID},
	}
}

// load returns the codec of the flags and the environment, or nil when neither names a key set.
func (o CodecOptions) load() (*codec.Codec, error) {
	var text, from string
	switch {
	case o.KeysFile != "":
		b, err := os.ReadFile(o.KeysFile)
		if err != nil {
			return nil, usagef("", "--codec-keys: %v", err)
		}
		text, from = string(b), "--codec-keys "+o.KeysFile
	default:
		v, ok := os.LookupEnv(codecKeysEnv)
		if !ok || v == "" {
			return nil, nil
		}
		text, from = v, "$"+codecKeysEnv
	}
	c, err := codec.ParseKeys(text, o.KeyID)
	if err != nil {
		return nil, usagef("", "%s: %v", from, err)
	}
	return c, nil
}

// withWorkerCodec takes the codec from the worker configuration's codec section when neither a flag nor the
// environment named one: flag, then env, then file.
func (g *GlobalOptions) withWorkerCodec(cmd string, cfg worker.CodecConfig) error {
	if g.codec != nil || cfg.Keys == "" {
		return nil
	}
	keys, err := cfg.Keys.Resolve(os.LookupEnv, os.ReadFile)
	if err != nil {
		return usagef(cmd, "worker configuration: codec.keys: %v", err)
	}
	id := g.Codec.KeyID
	if id == "" {
		id = cfg.Active
	}
	if g.codec, err = codec.ParseKeys(keys.Reveal(), id); err != nil {
		return usagef(cmd, "worker configuration: codec.keys: %v", err)
	}
	return nil
}

// dataConverter is the converter of the client: the default one, with the codec when one is set.
func (g GlobalOptions) dataConverter() converter.DataConverter {
	if g.codec == nil {
		return nil
	}
	return g.codec.DataConverter()
}

// CodecServerOptions are the flags of `ferry codec-server`.
type CodecServerOptions struct {
	Listen  string
	Origins cli.StringSlice
}

func newCodecServerCommand(g *GlobalOptions) *cli.Command {
	var opts CodecServerOptions
	return &cli.Command{
		Name:  "codec-server",
		Usage: "serve the payload codec over HTTP, so the Temporal UI can show encrypted payloads",
		Description: "Serves POST /encode and /decode (under any prefix, such as /NAMESPACE/decode) with the key set of\n" +
			"--codec-keys, with CORS for the --ui-origin pages. Point the Temporal UI at it: in its settings\n" +
			"(\"Codec Server\", per browser), or with codec.endpoint in the UI server's configuration; `ferry dev\n" +
			"--ui-codec-endpoint URL` sets it for the embedded UI. Whoever reaches it can decrypt: listen on an address\n" +
			"only the people allowed to read payloads can reach.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "`ADDRESS` to listen on", EnvVars: []string{"FERRY_CODEC_LISTEN"}, Value: "127.0.0.1:8234", Destination: &opts.Listen},
			&cli.StringSliceFlag{Name: "ui-origin", Usage: "`ORIGIN` of the Temporal UI allowed to call it, repeatable",
				EnvVars: []string{"FERRY_CODEC_UI_ORIGIN"}, Value: cli.NewStringSlice("http://127.0.0.1:8233", "http://localhost:8233"), Destination: &opts.Origins},
		},
		Action: action(func(c *cli.Context) error { return runCodecServer(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runCodecServer(ctx context.Context, opts CodecServerOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("codec-server", args); err != nil {
		return err
	}
	if g.codec == nil {
		return usagef("codec-server", "no key set: set --codec-keys FILE or $%s", codecKeysEnv)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return usagef("codec-server", "--listen %s: %v", opts.Listen, err)
	}
	srv := &http.Server{Handler: codec.Handler(g.codec, opts.Origins.Value()), ReadHeaderTimeout: 10 * time.Second}
	if err := g.printer().emit(map[string]string{"codecServer": "http://" + ln.Addr().String()}, func(w io.Writer) {
		fmt.Fprintf(w, "Codec server on http://%s (UI origins %v). Stop with Ctrl-C.\n", ln.Addr(), opts.Origins.Value())
	}); err != nil {
		ln.Close()
		return err
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
