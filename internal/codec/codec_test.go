package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, keySize)) }

func mustParse(t *testing.T, text, active string) *Codec {
	t.Helper()
	c, err := ParseKeys(text, active)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const plainValue = "release input with a reference vault:secret/app#k"

func payload(t *testing.T) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(plainValue)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripAndRotation(t *testing.T) {
	old := mustParse(t, "k1:"+key(1)+"\n", "")
	enc, err := old.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	if string(enc[0].Metadata[MetadataKeyID]) != "k1" || string(enc[0].Metadata[converter.MetadataEncoding]) != Encoding {
		t.Errorf("got metadata %v, want key k1 and encoding %s", enc[0].Metadata, Encoding)
	}
	if bytes.Contains(enc[0].Data, []byte("vault:secret")) {
		t.Error("got the plain text in the encrypted payload")
	}

	// A new active key: new payloads use it, and the old ones still decode.
	rotated := mustParse(t, "# rotated\nk2:"+key(2)+"\nk1:"+key(1)+"\n", "")
	newEnc, err := rotated.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(newEnc[0].Metadata[MetadataKeyID]); got != "k2" {
		t.Errorf("got key %s after rotation, want k2", got)
	}
	for name, p := range map[string]*commonpb.Payload{"old": enc[0], "new": newEnc[0], "plain": payload(t)} {
		dec, err := rotated.Decode([]*commonpb.Payload{p})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var s string
		if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &s); err != nil || s != plainValue {
			t.Errorf("%s: got %q, %v, want the value back", name, s, err)
		}
	}

	// Without k1 the old payload cannot be read; a tampered one fails authentication.
	if _, err := mustParse(t, "k2:"+key(2), "").Decode(enc); err == nil || !strings.Contains(err.Error(), `"k1"`) {
		t.Errorf("got %v, want an error naming the missing key", err)
	}
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	if _, err := old.Decode(enc); err == nil {
		t.Error("got no error for a tampered payload, want one")
	}
}

func TestParseKeysErrors(t *testing.T) {
	for name, text := range map[string]string{
		"empty":     "\n# nothing\n",
		"no colon":  key(1),
		"short key": "k1:" + base64.StdEncoding.EncodeToString([]byte("short")),
		"not b64":   "k1:not base64!",
		"duplicate": "k1:" + key(1) + "\nk1:" + key(2),
		"bad id":    "k 1:" + key(1),
	} {
		if _, err := ParseKeys(text, ""); err == nil {
			t.Errorf("%s: got no error, want one", name)
		} else if strings.Contains(err.Error(), key(1)) {
			t.Errorf("%s: got %q, which quotes a key", name, err)
		}
	}
	if _, err := ParseKeys("k1:"+key(1), "k9"); err == nil {
		t.Error("got no error for an active key that is not in the set, want one")
	}
}

func TestHandler(t *testing.T) {
	c := mustParse(t, "k1:"+key(1), "")
	srv := httptest.NewServer(Handler(c, []string{"http://127.0.0.1:8233"}))
	defer srv.Close()
	enc, err := c.Encode([]*commonpb.Payload{payload(t)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/default/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
		t.Fatalf("got status %d, allow-origin %q, want 200 and the UI's origin", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &s); err != nil || s != plainValue {
		t.Errorf("got %q, %v, want the value decoded", s, err)
	}

	pre, _ := http.NewRequest(http.MethodOptions, srv.URL+"/default/decode", nil)
	pre.Header.Set("Origin", "http://evil.example")
	resp2, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if got := resp2.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("got allow-origin %q for another origin, want none", got)
	}
}
