package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const diffSpec = `service: checkout
image: {repository: registry.example.com/checkout}
platform:
  exec: {deploy: [./deploy.sh], rollback: [./rollback.sh], remove: [./remove.sh]}
environments:
  - name: staging
    config: {LOG_LEVEL: debug, REGION: eu, ONLY_STAGING: "1"}
    secrets: {DATABASE_URL: "vault:secret/checkout/staging#database_url", API: "vault:secret/shared#api"}
  - name: production
    config: {LOG_LEVEL: info, REGION: eu}
    secrets: {DATABASE_URL: "vault:secret/checkout/production#database_url", API: "vault:secret/shared#api"}
`

func TestConfigDiff(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "ferry.yaml", diffSpec)
	stdout, stderr, code := ferry(t, "config", "diff", path, "staging", "production", "--output", "json")
	if code != exitOK {
		t.Fatalf("got code %d, stderr %q, want 0", code, stderr)
	}
	var doc configDiffDoc
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	got := map[string]string{}
	for _, k := range doc.Keys {
		got[k.Key] = k.State + " " + k.A.Kind + ":" + k.A.Value + " " + k.B.Kind + ":" + k.B.Value
	}
	want := map[string]string{
		"API":          "same secret:vault:secret/shared#api secret:vault:secret/shared#api",
		"DATABASE_URL": "changed secret:vault:secret/checkout/staging#database_url secret:vault:secret/checkout/production#database_url",
		"LOG_LEVEL":    "changed config:debug config:info",
		"ONLY_STAGING": "only-staging config:1 :",
		"REGION":       "same config:eu config:eu",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
	if doc.Differ != 3 || len(doc.Keys) != 5 {
		t.Errorf("got %d of %d keys differing, want 3 of 5", doc.Differ, len(doc.Keys))
	}

	stdout, _, code = ferry(t, "config", "diff", path, "staging", "production")
	if code != exitOK || !strings.Contains(stdout, "DATABASE_URL") || strings.Contains(stdout, "REGION") ||
		!strings.Contains(stdout, "3 of 5 keys differ") {
		t.Errorf("got code %d and text\n%s\nwant the 3 differing keys only", code, stdout)
	}

	if _, stderr, code := ferry(t, "config", "diff", path, "staging", "qa"); code != exitRejected || !strings.Contains(stderr, `no environment "qa"`) {
		t.Errorf("got code %d, stderr %q, want %d naming the environment", code, stderr, exitRejected)
	}
}

func TestCodecKeysRejected(t *testing.T) {
	clearEnv(t)
	bad := writeFile(t, "keys", "k1:not-base64!\n")
	if _, stderr, code := ferry(t, "--codec-keys", bad, "list"); code != exitRejected || !strings.Contains(stderr, "not base64") {
		t.Errorf("got code %d, stderr %q, want %d saying the key is not base64", code, stderr, exitRejected)
	}
	if _, stderr, code := ferry(t, "codec-server"); code != exitRejected || !strings.Contains(stderr, "no key set") {
		t.Errorf("codec-server without keys: got code %d, stderr %q, want %d", code, stderr, exitRejected)
	}
}
