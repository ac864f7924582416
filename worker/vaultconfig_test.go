package worker

import (
	"strings"
	"testing"
)

func TestVaultConfig(t *testing.T) {
	cfg, err := ParseConfig("ferry-worker.yaml", []byte(`vault:
  address: http://127.0.0.1:8200
  approle: {roleId: env:ROLE_ID, secretId: file:/run/secret-id}
codec:
  keys: env:CODEC_KEYS
  active: k2
`))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ROLE_ID": "role-1"}
	files := map[string]string{"/run/secret-id": "secret-1\n"}
	a, err := cfg.Vault.Resolve(func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		func(p string) ([]byte, error) { return []byte(files[p]), nil })
	if err != nil {
		t.Fatal(err)
	}
	if a.Address != "http://127.0.0.1:8200" || a.RoleID.Reveal() != "role-1" || a.SecretID.Reveal() != "secret-1" || a.Token != "" {
		t.Errorf("got address %q and credentials that are not the referenced ones", a.Address)
	}
	if err := a.Check(); err != nil {
		t.Errorf("got %v, want AppRole credentials accepted", err)
	}
	if cfg.Codec.Keys != "env:CODEC_KEYS" || cfg.Codec.Active != "k2" {
		t.Errorf("got codec %+v, want the file's section", cfg.Codec)
	}
	if err := (VaultAuth{Address: "http://127.0.0.1:8200"}).Check(); err == nil {
		t.Error("got no error for an address without credentials, want one")
	}

	for yamlText, want := range map[string]string{
		"vault: {address: ftp://vault}":                             "vault.address",
		"vault: {token: hvs.pasted-token}":                          "vault.token: must be a reference",
		"vault: {approle: {roleId: env:ROLE_ID}}":                   "set both roleId and secretId",
		"codec: {keys: k1:AAAA}":                                    "codec.keys: must be a reference",
		"vault: {approle: {roleId: env:R, secretId: s3cr3t-value}}": "vault.approle.secretId: must be a reference",
	} {
		_, err := ParseConfig("ferry-worker.yaml", []byte(yamlText))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", yamlText, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "pasted-token") || strings.Contains(err.Error(), "s3cr3t-value")) {
			t.Errorf("%s: got %q, which quotes the value", yamlText, err)
		}
	}
}
