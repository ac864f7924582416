package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/vaulttest"
	"github.com/ferryhq/ferry/workflows"
)

// secretsQueue is the task queue of the worker that resolves secrets in Vault.
const secretsQueue = "ferry-secrets"

// secretsWorker is a `ferry worker` on its own task queue that logs in to the test's Vault with the given
// flags, runs programs below root, and logs at debug level to its own file, which the scan test reads.
type secretsWorker struct {
	root string
	log  string
	env  []string
	cmd  *exec.Cmd
	// cli collects the output of every ferry command the test runs, for the scan.
	cli strings.Builder
}

func startSecretsWorker(t *testing.T, v *vaulttest.Vault, queue string, env []string, args ...string) *secretsWorker {
	t.Helper()
	dir := t.TempDir()
	w := &secretsWorker{root: filepath.Join(dir, "apps"), log: filepath.Join(dir, "worker.log")}
	if err := os.Mkdir(w.root, 0o755); err != nil {
		t.Fatal(err)
	}
	w.env = append(ferryEnv(), "FERRY_TASK_QUEUE="+queue)
	cmd := exec.Command(stack.bin, append([]string{"worker", "--log-level", "debug", "--exec-root", w.root,
		"--exec-allow", w.root + "/**", "--vault-addr", v.Addr}, args...)...)
	cmd.Env = append(append([]string{}, w.env...), env...)
	logFile, err := os.Create(w.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.cmd = cmd
	t.Cleanup(func() { stop(cmd); logFile.Close() })
	return w
}

// ferry runs a ferry command against the worker's task queue and keeps its output for the scan.
func (w *secretsWorker) ferry(t *testing.T, args ...string) result {
	t.Helper()
	r := ferryEnvArgs(t, w.env, args...)
	fmt.Fprintf(&w.cli, "$ ferry %s\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// app writes scripts into <root>/<service> and the spec (with SERVICE replaced) beside it, and returns the
// spec's path and the scripts' directory.
func (w *secretsWorker) app(t *testing.T, service, specYAML string, scripts map[string]string) (string, string) {
	t.Helper()
	dir := filepath.Join(w.root, service)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := filepath.Join(w.root, service+".yaml")
	if err := os.WriteFile(spec, []byte(strings.ReplaceAll(specYAML, "SERVICE", service)), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec, dir
}

// secretsSpec has two environments with a secret each and plain config; production is a canary whose bake
// lasts BAKE, so that its promote resolves the secrets well after its deploy.
const secretsSpec = `service: SERVICE
image: {repository: registry.local/SERVICE}
platform:
  exec:
    dir: SERVICE
    deploy: [./platform.sh]
    setWeight: [./platform.sh]
    promote: [./platform.sh]
    rollback: [./platform.sh]
    remove: [./platform.sh]
environments:
  - name: staging
    strategy: {type: rolling}
    config: {LOG_LEVEL: debug}
    secrets: {DB_PASSWORD: "vault:secret/SERVICE/staging#db_password"}
  - name: production
    strategy:
      type: canary
      steps: [{weight: 50, bake: BAKE}, {weight: 100}]
    config: {LOG_LEVEL: info}
    secrets: {DB_PASSWORD: "vault:secret/SERVICE/production#db_password", API_KEY: "vault:secret/SERVICE/shared#api_key"}
`

// secretScript records, for every operation, what it got in its environment and its argv; on FAIL_ENV it
// prints its whole environment and fails, as a careless platform command would.
const secretScript = `#!/bin/sh
echo "$FERRY_OP $FERRY_ENV db=$DB_PASSWORD api=$API_KEY log=$FERRY_CONFIG_LOG_LEVEL argv=$*" >> "$(dirname "$0")/calls.log"
if [ "$FERRY_ENV" = "$FAIL_ENV" ] && [ "$FERRY_OP" = deploy ]; then env; echo "deploy failed"; exit 1; fi
echo "ok $FERRY_OP"
`

func secretValues(service string) map[string]string {
	return map[string]string{
		"staging":    "stg-pw-" + service + "-9f8e7d",
		"production": "prd-pw-" + service + "-1a2b3c",
		"api":        "api-key-" + service + "-5d6e7f",
	}
}

func putSecrets(t *testing.T, v *vaulttest.Vault, service string) map[string]string {
	vals := secretValues(service)
	v.Put(t, service+"/staging", map[string]any{"db_password": vals["staging"]})
	v.Put(t, service+"/production", map[string]any{"db_password": vals["production"]})
	v.Put(t, service+"/shared", map[string]any{"api_key": vals["api"]})
	return vals
}

// tokenWorker starts a worker whose Vault token lives 2 seconds unless renewed: every release it runs outlives
// the token many times over.
func tokenWorker(t *testing.T) (*vaulttest.Vault, *secretsWorker) {
	v := vaulttest.Server(t)
	token := v.Token(t, 2*time.Second, true, v.ReadPolicy(t))
	return v, startSecretsWorker(t, v, secretsQueue, []string{"FERRY_VAULT_TOKEN=" + token})
}

// TestSecretsReachExecCommands releases through two environments whose secrets the worker resolves in Vault:
// deploy and promote get them in their environment, never in argv; other operations get none; config arrives
// as FERRY_CONFIG_*. The worker's token has a 2s TTL and production's bake lasts 6s, so promote resolves its
// secrets with a token that was renewed mid-release.
func TestSecretsReachExecCommands(t *testing.T) {
	v, w := tokenWorker(t)
	service := "sec-exec-" + uniqueSuffix()
	vals := putSecrets(t, v, service)
	spec, dir := w.app(t, service, strings.ReplaceAll(secretsSpec, "BAKE", "6s"), map[string]string{"platform.sh": secretScript})

	r := w.ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "0a1b2c3", "--wait", "--timeout", "3m")
	if r.code != 0 {
		t.Fatalf("release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	calls, err := os.ReadFile(filepath.Join(dir, "calls.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"deploy staging db=" + vals["staging"] + " api= log=debug argv=",
		"deploy production db=" + vals["production"] + " api=" + vals["api"] + " log=info argv=",
		"set-weight production db= api= log=info argv=",
		"promote production db=" + vals["production"] + " api=" + vals["api"] + " log=info argv=",
	}
	got := strings.Split(strings.TrimSpace(string(calls)), "\n")
	for _, line := range want {
		if !containsLine(got, line) {
			t.Errorf("calls: got\n%s\nwant a line %q", calls, line)
		}
	}

	s := secretsStatus(t, w, service, "1.0.0")
	for _, e := range s.Environments {
		if !strings.HasPrefix(e.ConfigHash, "hmac-sha256:") {
			t.Errorf("%s: got config hash %q, want an hmac-sha256 hash", e.Name, e.ConfigHash)
		}
	}
	if len(s.Environments) == 2 && s.Environments[0].ConfigHash == s.Environments[1].ConfigHash {
		t.Errorf("got the same config hash for staging and production, want them to differ")
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func secretsStatus(t *testing.T, w *secretsWorker, service, version string) workflows.Status {
	t.Helper()
	r := w.ferry(t, "status", service, "--version", version, "--output", "json")
	var s workflows.Status
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status: %v\n%s%s", err, r.stdout, r.stderr)
	}
	return s
}

// TestMissingSecretFailsBeforeDeploy releases a spec whose production secret names a key that is not there: the
// release fails in production before anything of it ran, with an error that names the variable, the
// environment and the reference; staging, which resolved, deployed.
func TestMissingSecretFailsBeforeDeploy(t *testing.T) {
	v, w := tokenWorker(t)
	service := "sec-missing-" + uniqueSuffix()
	putSecrets(t, v, service)
	specYAML := strings.ReplaceAll(secretsSpec, "BAKE", "1s")
	specYAML = strings.Replace(specYAML, "shared#api_key", "shared#no_such_key", 1)
	spec, dir := w.app(t, service, specYAML, map[string]string{"platform.sh": secretScript})

	r := w.ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "0a1b2c3", "--wait", "--timeout", "3m")
	if r.code == 0 {
		t.Fatalf("release: got exit 0, want a failure\n%s", r.stdout)
	}
	calls, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
	if strings.Contains(string(calls), "production") {
		t.Errorf("got production calls\n%s\nwant none: the secret was missing", calls)
	}
	if !strings.Contains(string(calls), "deploy staging") {
		t.Errorf("got calls\n%s\nwant staging deployed", calls)
	}
	s := secretsStatus(t, w, service, "1.0.0")
	var reason string
	for _, e := range s.Environments {
		if e.Name == "production" {
			reason = e.Reason
		}
	}
	for _, part := range []string{"API_KEY", "environment production", "vault:secret/" + service + "/shared#no_such_key"} {
		if !strings.Contains(reason, part) {
			t.Errorf("got production reason %q, want it to contain %q", reason, part)
		}
	}
}

// TestSecretValuesNeverLeave runs a release with known secret values whose production deploy prints its whole
// environment and fails, then scans the whole history (every event, payloads decoded), the worker's log and
// every CLI output for the values: none may hold one. The command's environment did hold them (its log says so),
// so the scan looks where they would have leaked.
func TestSecretValuesNeverLeave(t *testing.T) {
	v, w := tokenWorker(t)
	service := "sec-scan-" + uniqueSuffix()
	vals := putSecrets(t, v, service)
	spec, dir := w.app(t, service, strings.ReplaceAll(secretsSpec, "BAKE", "1s"), map[string]string{
		"platform.sh": strings.Replace(secretScript, `"$FAIL_ENV"`, `"production"`, 1)})

	r := w.ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "0a1b2c3", "--wait", "--timeout", "3m")
	if r.code == 0 {
		t.Fatalf("release: got exit 0, want the production deploy to fail\n%s", r.stdout)
	}
	w.ferry(t, "status", service, "--version", "1.0.0")
	w.ferry(t, "status", service, "--version", "1.0.0", "--output", "json")
	w.ferry(t, "history", service)
	w.ferry(t, "history", service, "--output", "json")
	w.ferry(t, "list", "--service", service, "--output", "json")

	calls, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
	if !strings.Contains(string(calls), vals["production"]) {
		t.Fatalf("calls: got\n%s\nwant the production deploy to have had its secret", calls)
	}

	history := historyText(t, workflows.ReleaseWorkflowID(service, "1.0.0"))
	if !strings.Contains(history, "[redacted]") {
		t.Errorf("history: got no [redacted] mark, want the failed deploy's echoed environment redacted")
	}
	if !strings.Contains(history, "vault:secret/"+service+"/production#db_password") {
		t.Errorf("history: got no secret reference, want references in the workflow input")
	}
	logData, err := os.ReadFile(w.log)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"history": history, "worker log": string(logData), "CLI output": w.cli.String()} {
		for _, val := range vals {
			if n := strings.Count(text, val); n != 0 {
				t.Errorf("%s: got %d occurrences of a secret value, want 0", name, n)
			}
		}
	}
	t.Logf("scanned %d bytes of history, %d of worker log, %d of CLI output for %d values",
		len(history), len(logData), w.cli.Len(), len(vals))
}

// historyText returns every event of the workflow's history as protojson, followed by the decoded data of
// every payload in it (history holds payloads base64-encoded).
func historyText(t *testing.T, workflowID string) string {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: stack.address})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	events := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		js, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(js)
		b.WriteByte('\n')
		payloads(ev.ProtoReflect(), false, func(p *commonpb.Payload) {
			b.Write(p.GetData())
			b.WriteByte('\n')
		})
	}
	if events == 0 {
		t.Fatalf("history of %s: no events", workflowID)
	}
	return b.String()
}

// payloads calls fn for every Payload message within m; with skipSearch, apart from search attributes: the
// server indexes those, so no codec touches them.
func payloads(m protoreflect.Message, skipSearch bool, fn func(*commonpb.Payload)) {
	switch p := m.Interface().(type) {
	case *commonpb.Payload:
		fn(p)
		return
	case *commonpb.SearchAttributes:
		if skipSearch {
			return
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				payloads(v.List().Get(i).Message(), skipSearch, fn)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				payloads(mv.Message(), skipSearch, fn)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			payloads(v.Message(), skipSearch, fn)
		}
		return true
	})
}

// TestSecretsReachDockerContainers releases on the Docker platform with a worker that logs in to Vault with
// AppRole: the containers run with the environment's secret and config under their own names.
func TestSecretsReachDockerContainers(t *testing.T) {
	v := vaulttest.Server(t)
	ds := startDockerStack(t)
	roleID, secretID := v.AppRole(t, "ferry-docker-worker", v.ReadPolicy(t))
	stop(ds.worker)
	ds.workerArgs = append(ds.workerArgs, "--vault-addr", v.Addr)
	ds.env = append(ds.env, "FERRY_VAULT_ROLE_ID="+roleID, "FERRY_VAULT_SECRET_ID="+secretID)
	ds.startWorker(t)

	service := "sec-dk-" + uniqueSuffix()
	ds.cleanup(t, service)
	vals := putSecrets(t, v, service)
	ds.push(t, service, "1.0.0")
	spec := ds.spec(t, service, "{type: rolling}", fmt.Sprintf(
		"    config: {LOG_LEVEL: debug}\n    secrets: {DB_PASSWORD: \"vault:secret/%s/staging#db_password\"}\n", service))
	if r := ds.release(t, spec, "1.0.0"); r.code != 0 {
		t.Fatalf("release: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	envs := containerEnvs(t, service)
	if len(envs) != 2 {
		t.Fatalf("got %d containers, want 2", len(envs))
	}
	for i, env := range envs {
		if !containsLine(env, "DB_PASSWORD="+vals["staging"]) || !containsLine(env, "LOG_LEVEL=debug") {
			t.Errorf("container %d: got %d variables without DB_PASSWORD or LOG_LEVEL, want both", i, len(env))
		}
	}
}

// containerEnvs returns the environment of each running container of service, as the engine reports it.
func containerEnvs(t *testing.T, service string) [][]string {
	t.Helper()
	ctx := context.Background()
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", docker.LabelService+"="+service))})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, c := range list {
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info.Config.Env)
	}
	return out
}

// TestCodecEncryptsHistory runs a release with payload encryption on in the worker and the CLI: every payload
// in its history (search attributes aside, which the server indexes) is encrypted, the CLI still reads the
// release, and `ferry codec-server` decodes a payload from the history for the UI.
func TestCodecEncryptsHistory(t *testing.T) {
	keys := "k2:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + "\n" +
		"k1:" + base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210")) + "\n"
	v := vaulttest.Server(t)
	token := v.Token(t, time.Hour, true, v.ReadPolicy(t))
	w := startSecretsWorker(t, v, "ferry-codec", []string{"FERRY_VAULT_TOKEN=" + token, "FERRY_CODEC_KEYS=" + keys})
	w.env = append(w.env, "FERRY_CODEC_KEYS="+keys)
	service := "sec-codec-" + uniqueSuffix()
	putSecrets(t, v, service)
	spec, _ := w.app(t, service, strings.ReplaceAll(secretsSpec, "BAKE", "1s"), map[string]string{"platform.sh": secretScript})
	if r := w.ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "0a1b2c3", "--wait", "--timeout", "3m"); r.code != 0 {
		t.Fatalf("release: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := secretsStatus(t, w, service, "1.0.0"); s.State != workflows.StateSucceeded {
		t.Errorf("got state %q through the codec, want %s", s.State, workflows.StateSucceeded)
	}
	// Start stays idempotent: it reads the existing release's encrypted memo through the codec.
	if r := w.ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "0a1b2c3"); r.code != 0 {
		t.Errorf("start again with the same inputs: exit %d\n%s%s, want 0", r.code, r.stdout, r.stderr)
	}
	if r := w.ferry(t, "start", "--spec", spec, "--version", "1.0.0", "--git-sha", "9f9f9f9"); r.code == 0 || !strings.Contains(r.stderr, "9f9f9f9") {
		t.Errorf("start again with another git sha: exit %d\n%s, want a conflict naming it", r.code, r.stderr)
	}
	if r := w.ferry(t, "history", service); r.code != 0 || !strings.Contains(r.stdout, "ResolveConfig production: hmac-sha256:") {
		t.Errorf("history: exit %d, got\n%s\nwant the decoded timeline with the config hashes", r.code, r.stdout)
	}

	var encrypted, plain int
	var sample *commonpb.Payload
	forHistory(t, workflows.ReleaseWorkflowID(service, "1.0.0"), func(p *commonpb.Payload) {
		if string(p.GetMetadata()["encoding"]) == "binary/encrypted" {
			encrypted++
			if sample == nil {
				sample = p
			}
			return
		}
		plain++
		t.Errorf("got a plain payload (encoding %q): %.80s", p.GetMetadata()["encoding"], p.GetData())
	})
	if encrypted == 0 {
		t.Fatal("got no encrypted payload in the history, want all of them")
	}
	t.Logf("history: %d encrypted payloads, %d plain", encrypted, plain)

	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	cs := exec.Command(stack.bin, "codec-server", "--listen", addr, "--ui-origin", "http://127.0.0.1:8233")
	cs.Env = append(ferryEnv(), "FERRY_CODEC_KEYS="+keys)
	if err := cs.Start(); err != nil {
		t.Fatal(err)
	}
	defer stop(cs)
	if err := waitPort(addr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{sample}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/default/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out commonpb.Payloads
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal(raw, &out) != nil || len(out.Payloads) != 1 {
		t.Fatalf("codec-server: got status %d, body %.200s, want one decoded payload", resp.StatusCode, raw)
	}
	if enc := string(out.Payloads[0].GetMetadata()["encoding"]); enc != "json/plain" {
		t.Errorf("codec-server: got encoding %q, want json/plain", enc)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
		t.Errorf("codec-server: got no CORS header for the UI's origin")
	}
}

// forHistory calls fn for every payload in the workflow's history, apart from search attributes.
func forHistory(t *testing.T, workflowID string, fn func(*commonpb.Payload)) {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: stack.address})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		payloads(ev.ProtoReflect(), true, fn)
	}
}
