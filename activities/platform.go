package activities

import (
	"context"
	"errors"

	"github.com/ferryhq/ferry/internal/spec"
)

// TemplateVars are the values platform commands and checks are templated with ({{.Image}}) and the FERRY_*
// environment variables they receive (FERRY_IMAGE, FERRY_CONFIG_<KEY>, ...).
type TemplateVars struct {
	Service        string            `json:"service"`
	Env            string            `json:"env"`
	Version        string            `json:"version"`
	GitSHA         string            `json:"gitSha,omitempty"`
	Image          string            `json:"image"`
	Track          string            `json:"track"`
	Weight         int               `json:"weight"`
	Replicas       int               `json:"replicas"`
	Strategy       string            `json:"strategy,omitempty"`
	MaxUnavailable int               `json:"maxUnavailable,omitempty"`
	MaxSurge       int               `json:"maxSurge,omitempty"`
	StableVersion  string            `json:"stableVersion,omitempty"`
	StableImage    string            `json:"stableImage,omitempty"`
	Config         map[string]string `json:"config,omitempty"`
}

// PlatformRequest is the input of every platform activity.
type PlatformRequest struct {
	Exec spec.ExecPlatform `json:"exec"`
	Vars TemplateVars      `json:"vars"`
}

// PlatformResult is the output of every platform activity.
type PlatformResult struct {
	// Output is the tail of the command's combined output.
	Output string `json:"output,omitempty"`
}

// Platform runs the platform operations. TODO(helper): implement.
type Platform struct{}

func (p *Platform) Deploy(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return PlatformResult{}, errors.New("not implemented")
}
func (p *Platform) SetWeight(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return PlatformResult{}, errors.New("not implemented")
}
func (p *Platform) Promote(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return PlatformResult{}, errors.New("not implemented")
}
func (p *Platform) Rollback(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return PlatformResult{}, errors.New("not implemented")
}
func (p *Platform) Remove(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return PlatformResult{}, errors.New("not implemented")
}
func (p *Platform) WaitReady(ctx context.Context, in PlatformRequest) (PlatformResult, error) {
	return PlatformResult{}, errors.New("not implemented")
}
