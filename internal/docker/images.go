package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
)

// RemoveImages removes every image on the engine that a tag or a digest of repository names, e.g.
// "127.0.0.1:5000/checkout": the images a build tagged and pushed, and those a deploy pulled by digest. It
// forces removal of images tagged elsewhere too, so a container still using one must be removed first. It
// returns how many images it removed. Removing again is safe and removes nothing.
func (c *Client) RemoveImages(ctx context.Context, repository string) (int, error) {
	if repository == "" {
		return 0, fmt.Errorf("docker: remove images: repository is required")
	}
	imgs, err := c.api.ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		return 0, fmt.Errorf("docker: remove images: %w", err)
	}
	n := 0
	for _, img := range imgs {
		if !namesRepository(img.RepoTags, repository, ":") && !namesRepository(img.RepoDigests, repository, "@") {
			continue
		}
		_, err := c.api.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		if err != nil && !errdefs.IsNotFound(err) {
			return n, fmt.Errorf("docker: remove image %.19s: %w", img.ID, err)
		}
		n++
	}
	return n, nil
}

// namesRepository reports whether one of refs is repository followed by sep (":" before a tag, "@" before a
// digest).
func namesRepository(refs []string, repository, sep string) bool {
	for _, r := range refs {
		if strings.HasPrefix(r, repository+sep) {
			return true
		}
	}
	return false
}
