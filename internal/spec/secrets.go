package spec

import (
	"fmt"
	"strings"
)

// SecretScheme is the prefix of a secret reference to Vault's KV version 2 engine.
const SecretScheme = "vault:"

// SecretRef is a parsed secret reference, "vault:<mount>/<path>#<key>": the value of Key in the latest version of
// the KV v2 secret at Path under the engine mounted at Mount. A reference names where a secret is, never its
// value, so it may travel in workflow input and appear in errors, `ferry config diff` and the UI.
type SecretRef struct {
	Mount string
	Path  string
	Key   string
}

// String returns the reference as written: vault:<mount>/<path>#<key>.
func (r SecretRef) String() string { return SecretScheme + r.Mount + "/" + r.Path + "#" + r.Key }

// ParseSecretRef parses a secret reference. The mount is one path element; the path one or more, with no
// empty, "." or ".." element; the key any non-empty text without '#'. None may hold whitespace or control
// characters. The error never quotes s unless it starts with "vault:": text that is no reference may be a
// secret pasted where its reference belongs.
func ParseSecretRef(s string) (SecretRef, error) {
	rest, ok := strings.CutPrefix(s, SecretScheme)
	if !ok {
		return SecretRef{}, fmt.Errorf("must be a reference %s<mount>/<path>#<key>, not a value (it does not start with %s)", SecretScheme, SecretScheme)
	}
	bad := func(why string) (SecretRef, error) {
		return SecretRef{}, fmt.Errorf("must be a reference %s<mount>/<path>#<key>: %s, got %s", SecretScheme, why, QuoteValue(s))
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return bad("it holds whitespace or a control character")
	}
	loc, key, ok := strings.Cut(rest, "#")
	switch {
	case !ok || key == "":
		return bad("the #<key> is missing")
	case strings.Contains(key, "#"):
		return bad("the key holds a second '#'")
	}
	mount, path, ok := strings.Cut(loc, "/")
	if !ok || mount == "" || path == "" {
		return bad("it needs a mount and a path, mount/path")
	}
	for _, el := range strings.Split(loc, "/") {
		if el == "" || el == "." || el == ".." {
			return bad(fmt.Sprintf("the path has an element %q", el))
		}
	}
	return SecretRef{Mount: mount, Path: path, Key: key}, nil
}

// ConfigEnvName is the environment variable under which an exec platform command receives config key k:
// FERRY_CONFIG_ and the key upper-cased, with every character other than A-Z and 0-9 turned into '_'. Containers
// of the Docker platform receive config keys under their own names. Secrets are received under their own names
// on every platform.
func ConfigEnvName(k string) string {
	return "FERRY_CONFIG_" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, k)
}

// reservedPrefix starts the names of the variables Ferry itself sets; a secret may not take one.
const reservedPrefix = "FERRY_"

// secrets checks an environment's secrets: each name a variable name that is neither Ferry's nor a config key,
// each value a reference.
func (v *validator) secrets(e *Environment, p string) {
	for _, k := range sortedKeys(e.Secrets) {
		kp := p + ".secrets." + k
		switch {
		case !envVarRE.MatchString(k):
			v.add(kp, "must be an environment variable name (letters, digits, '_', not starting with a digit)")
		case strings.HasPrefix(strings.ToUpper(k), reservedPrefix):
			v.add(kp, "must not start with %s: Ferry sets those variables itself", reservedPrefix)
		}
		if _, clash := e.Config[k]; clash {
			v.add(kp, "is also a config key (%s.config.%s): a variable is either plain config or a secret", p, k)
		}
		if _, err := ParseSecretRef(e.Secrets[k]); err != nil {
			v.add(kp, "%s", err.Error())
		}
	}
}
