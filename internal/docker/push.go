package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/ferryhq/ferry/internal/registry"
)

// Tags returns the two tags Ferry gives a release's image: "<repo>:<version>" and, if gitSHA is not empty,
// "<repo>:sha-<gitSHA>".
func Tags(repo, version, gitSHA string) []string {
	tags := []string{repo + ":" + version}
	if gitSHA != "" {
		tags = append(tags, repo+":sha-"+gitSHA)
	}
	return tags
}

// TagAndPush tags the image imageID as each of refs and pushes them, returning the manifest digest the registry
// reported ("sha256:..."). All refs must name the same repository. Pushing again is safe: the registry already
// has the layers and answers with the same digest. Lines of push progress go to onLine if it is not nil. It
// pushes without credentials, so it suits registries that need no login, such as one on loopback.
func (c *Client) TagAndPush(ctx context.Context, imageID string, refs []string, onLine func(string)) (string, error) {
	return c.TagAndPushAs(ctx, imageID, refs, registry.Login{}, onLine)
}

// TagAndPushAs is TagAndPush with a login for the registry of refs; the zero Login pushes anonymously. The
// credential goes to the engine with each push request only, never into its configuration.
func (c *Client) TagAndPushAs(ctx context.Context, imageID string, refs []string, login registry.Login, onLine func(string)) (string, error) {
	if len(refs) == 0 {
		return "", errors.New("docker: push: no references to push")
	}
	auth, err := registryAuth(refs[0], login)
	if err != nil {
		return "", fmt.Errorf("docker: push: %w", err)
	}
	var digest string
	for _, ref := range refs {
		if err := c.api.ImageTag(ctx, imageID, ref); err != nil {
			return "", fmt.Errorf("docker: tag %s: %w", ref, err)
		}
		d, err := c.push(ctx, ref, auth, onLine)
		if err != nil {
			return "", err
		}
		if digest != "" && d != digest {
			return "", fmt.Errorf("docker: push %s: got digest %s, want %s as for %s", ref, d, digest, refs[0])
		}
		digest = d
	}
	return digest, nil
}

func (c *Client) push(ctx context.Context, ref, auth string, onLine func(string)) (string, error) {
	body, err := c.api.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("docker: push %s: %w", ref, err)
	}
	defer body.Close()
	digest, err := pushDigest(body, onLine)
	if err != nil {
		return "", fmt.Errorf("docker: push %s: %w", ref, err)
	}
	return digest, nil
}

// pushDigest reads a push stream and returns the digest from its aux message.
func pushDigest(r io.Reader, onLine func(string)) (string, error) {
	var digest string
	err := readStream(r, func(m jsonmessage.JSONMessage) error {
		if m.Aux != nil {
			var aux struct{ Tag, Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
			return nil
		}
		if onLine != nil && m.Status != "" {
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			onLine(line)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(digest, "sha256:") {
		return "", errors.New("the engine reported no digest")
	}
	return digest, nil
}
