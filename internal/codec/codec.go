// Package codec encrypts Temporal payloads with AES-256-GCM. The CLI and the worker install the same codec in
// their data converter, so workflow inputs, results and activity payloads are stored encrypted in history;
// `ferry codec-server` decodes them for the Temporal UI.
//
// Keys form a key set: one active key encrypts, every key decrypts. Each encrypted payload names its key's ID
// in its metadata, so a new active key can be rolled out while histories written under the old one stay
// readable for as long as the old key stays in the set.
package codec

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the encoding of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher.
	MetadataCipher = "encryption-cipher"
	cipherName     = "AES256-GCM"
)

// keySize is the size of an AES-256 key.
const keySize = 32

// Codec is a converter.PayloadCodec that encrypts with its active key and decrypts with any of its keys.
// Payloads that are not encrypted pass Decode untouched, so histories written before encryption stay readable.
// It is safe for concurrent use.
type Codec struct {
	active string
	aeads  map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// New returns a codec for keys (key ID to a 32-byte key) that encrypts with keys[active].
func New(keys map[string][]byte, active string) (*Codec, error) {
	if _, ok := keys[active]; !ok {
		return nil, fmt.Errorf("codec: the active key %q is not in the key set", active)
	}
	c := &Codec{active: active, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, k := range keys {
		if !keyIDRE.MatchString(id) {
			return nil, fmt.Errorf("codec: key ID %q: want 1..64 letters, digits, '.', '_' or '-'", id)
		}
		if len(k) != keySize {
			return nil, fmt.Errorf("codec: key %s: got %d bytes, want %d (AES-256)", id, len(k), keySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", id, err)
		}
		if c.aeads[id], err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", id, err)
		}
	}
	return c, nil
}

// ParseKeys reads a key set: one key a line, "ID:BASE64" (standard base64 of 32 random bytes), blank lines and
// lines starting with '#' ignored. The first key is the active one unless active names another. The error
// never quotes a key.
func ParseKeys(text, active string) (*Codec, error) {
	keys := map[string][]byte{}
	first := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("codec keys: line %d: want ID:BASE64", n)
		}
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("codec keys: line %d (key %s): not base64", n, id)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("codec keys: line %d: key %s appears twice", n, id)
		}
		keys[id] = k
		if first == "" {
			first = id
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("codec keys: no key")
	}
	if active == "" {
		active = first
	}
	return New(keys, active)
}

// Encode encrypts each payload, whole (metadata and data), with the active key and a random nonce.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	aead := c.aeads[c.active]
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.active),
				MetadataCipher:             []byte(cipherName),
			},
			// The key ID is authenticated with the data, so a payload cannot be passed off under another key.
			Data: aead.Seal(nonce, nonce, plain, []byte(c.active)),
		}
	}
	return out, nil
}

// Decode decrypts each encrypted payload with the key its metadata names, and passes other payloads through.
// A payload under a key that is not in the set, or one that fails authentication, is an error.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("codec: payload encrypted with key %q, which is not in the key set", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("codec: encrypted payload too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: decrypt with key %s: %w", id, err)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, fmt.Errorf("codec: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter returns the default data converter with c encrypting its payloads.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Handler serves the codec's /encode and /decode endpoints (converter.NewPayloadCodecHTTPHandler) for the
// Temporal UI and CLI, with CORS for the given origins (the UI's, such as http://127.0.0.1:8233), so that a
// browser on that page may call it. Requests from other origins get no CORS headers, so a browser refuses
// them; anyone who can reach the handler directly can decode, so it listens where only the people allowed
// to read payloads can reach it.
func Handler(c *Codec, origins []string) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		codec.ServeHTTP(w, r)
	})
}
