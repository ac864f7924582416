package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// BuildRequest describes one image build.
type BuildRequest struct {
	// ContextDir is the directory sent to the engine as the build context.
	ContextDir string
	// Dockerfile is the Dockerfile's path relative to ContextDir; "Dockerfile" if empty.
	Dockerfile string
	// Tags are references to give the image, e.g. "127.0.0.1:5000/checkout:1.4.2".
	Tags []string
	// Labels are set on the image.
	Labels map[string]string
	// BuildArgs are the Dockerfile's ARG values.
	BuildArgs map[string]string
}

// BuildError is a build that the engine ran and that failed, e.g. a failing RUN step or a missing COPY source.
// Running the same build again fails the same way, so callers should not retry it. (Build itself already
// retried the one failure that is not of the build's making: a cached layer removed under it.)
type BuildError struct {
	Message string
}

func (e *BuildError) Error() string { return "docker: build failed: " + e.Message }

// Build sends ContextDir, less what its .dockerignore excludes, to the engine, builds the image and returns its
// ID ("sha256:..."). Each line of build output is passed to onLine, if it is not nil, as it arrives; callers log
// it and heartbeat. A failed build returns a *BuildError with the engine's message. Building again is safe: the
// engine reuses its cache and the tags move to the new image.
//
// The classic builder holds no reference to the cached layers it reuses, so removing an image elsewhere on the
// engine (docker image prune, another build's clean-up) can delete a layer this build stands on between two
// steps. Build then runs once more without the cache, which depends on no layer it did not make itself.
func (c *Client) Build(ctx context.Context, req BuildRequest, onLine func(string)) (string, error) {
	dockerfile := req.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if _, err := os.Stat(filepath.Join(req.ContextDir, dockerfile)); err != nil {
		return "", fmt.Errorf("docker: build: %w", err)
	}
	id, err := c.build(ctx, req, dockerfile, false, onLine)
	var berr *BuildError
	if errors.As(err, &berr) && lostCachedLayer(berr.Message) {
		if onLine != nil {
			onLine("a cached layer was removed during the build; building again without the cache")
		}
		id, err = c.build(ctx, req, dockerfile, true, onLine)
	}
	return id, err
}

// lostCachedLayer reports whether a failed build's message says that a layer the engine had, named by its
// digest, is gone: the sign of an image removed while the build reused it.
func lostCachedLayer(msg string) bool {
	if !strings.Contains(msg, "sha256:") {
		return false
	}
	for _, s := range []string{"no such file or directory", "No such image", "layer does not exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// build runs one build on the engine, with the cache unless noCache.
func (c *Client) build(ctx context.Context, req BuildRequest, dockerfile string, noCache bool, onLine func(string)) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, req.ContextDir, dockerfile)) }()
	defer pr.Close()

	args := make(map[string]*string, len(req.BuildArgs))
	for k, v := range req.BuildArgs {
		args[k] = &v
	}
	resp, err := c.api.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Dockerfile:  filepath.ToSlash(dockerfile),
		Tags:        req.Tags,
		Labels:      req.Labels,
		BuildArgs:   args,
		NoCache:     noCache,
		Remove:      true,
		ForceRemove: true,
		// The classic builder streams plain lines and reports the image ID in an aux message on every engine.
		Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("docker: build: %w", err)
	}
	defer resp.Body.Close()

	var id string
	err = readStream(resp.Body, func(m jsonmessage.JSONMessage) error {
		if m.Stream != "" && onLine != nil {
			for _, line := range strings.Split(strings.TrimRight(m.Stream, "\n"), "\n") {
				onLine(line)
			}
		}
		if m.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		return nil
	})
	var jerr *jsonmessage.JSONError
	if errors.As(err, &jerr) {
		return "", &BuildError{Message: strings.TrimSpace(jerr.Message)}
	}
	if err != nil {
		return "", fmt.Errorf("docker: build: %w", err)
	}
	if id == "" {
		return "", errors.New("docker: build: the engine reported no image ID")
	}
	return id, nil
}

// readStream decodes a stream of JSON messages from the engine, calling fn for each, and returns the first
// error message in the stream as a *jsonmessage.JSONError.
func readStream(r io.Reader, fn func(jsonmessage.JSONMessage) error) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return m.Error
		}
		if m.ErrorMessage != "" {
			return &jsonmessage.JSONError{Message: m.ErrorMessage}
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}

// writeContext writes dir as an uncompressed tar stream, leaving out what dir/.dockerignore excludes except the
// Dockerfile and the .dockerignore file, which the engine needs. It keeps regular files, directories and symlinks
// and their modes; it drops owners, which the build does not need.
func writeContext(w io.Writer, dir, dockerfile string) error {
	ignore, err := ignored(dir, dockerfile)
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if skip, err := ignore.MatchesOrParentMatches(filepath.ToSlash(rel)); err != nil {
			return err
		} else if skip {
			if d.IsDir() && !ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return tw.Close()
}

// ignored reads dir/.dockerignore, if there is one.
func ignored(dir, dockerfile string) (*patternmatcher.PatternMatcher, error) {
	var patterns []string
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(patterns) > 0 {
		patterns = append(patterns, "!.dockerignore", "!"+filepath.ToSlash(dockerfile))
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	return pm, nil
}
