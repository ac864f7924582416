package spec

import (
	"strings"
	"testing"
)

func TestParseSecretRef(t *testing.T) {
	tests := []struct {
		in      string
		want    SecretRef
		wantErr string
	}{
		{in: "vault:secret/checkout/staging#database_url", want: SecretRef{Mount: "secret", Path: "checkout/staging", Key: "database_url"}},
		{in: "vault:kv/app#a.b-c", want: SecretRef{Mount: "kv", Path: "app", Key: "a.b-c"}},
		{in: "s3cr3t-value", wantErr: "not a value"},
		{in: "vault:secret/app", wantErr: "the #<key> is missing"},
		{in: "vault:secret/app#", wantErr: "the #<key> is missing"},
		{in: "vault:secret/app#a#b", wantErr: "second '#'"},
		{in: "vault:secret#key", wantErr: "needs a mount and a path"},
		{in: "vault:/app#key", wantErr: "needs a mount and a path"},
		{in: "vault:secret//app#key", wantErr: `element ""`},
		{in: "vault:secret/app/#key", wantErr: `element ""`},
		{in: "vault:secret/./app#key", wantErr: `element "."`},
		{in: "vault:secret/app#k\tey", wantErr: "whitespace"},
	}
	for _, tt := range tests {
		got, err := ParseSecretRef(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseSecretRef(%q): got error %v, want %+v", tt.in, err, tt.want)
		case tt.wantErr == "" && got != tt.want:
			t.Errorf("ParseSecretRef(%q): got %+v, want %+v", tt.in, got, tt.want)
		case tt.wantErr == "" && got.String() != tt.in:
			t.Errorf("ParseSecretRef(%q).String(): got %q, want the input", tt.in, got.String())
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseSecretRef(%q): got error %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
	// A value that is no reference may be the secret itself: the error must not quote it.
	if _, err := ParseSecretRef("hunter2"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got error %v, want one that does not quote the value", err)
	}
}

func TestConfigEnvName(t *testing.T) {
	for key, want := range map[string]string{"LOG_LEVEL": "FERRY_CONFIG_LOG_LEVEL", "log_level": "FERRY_CONFIG_LOG_LEVEL", "a1": "FERRY_CONFIG_A1"} {
		if got := ConfigEnvName(key); got != want {
			t.Errorf("ConfigEnvName(%q): got %q, want %q", key, got, want)
		}
	}
}
