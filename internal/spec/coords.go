package spec

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
)

// Release coordinates are the values that name what a release ships besides its spec: the version, the git
// sha and the image. They reach workflow IDs, search attributes, command lines and environment variables, so
// `ferry start` checks them and the worker checks them again before it runs anything with them.

// Fields of the coordinates, as CoordinateError names them.
const (
	FieldVersion = "version"
	FieldGitSHA  = "git sha"
	FieldImage   = "image"
)

// Rules of the coordinates, as CoordinateError states them.
const (
	RuleVersion = "must be an OCI tag: 1 to 128 characters of A-Z, a-z, 0-9, '_', '.' and '-', not starting with '.' or '-'"
	RuleGitSHA  = "must be 7 to 40 hexadecimal characters"
	RuleImage   = "must be a valid OCI image reference such as registry.example.com/app:1.2.3 or repo@sha256:<64 hex>"
)

var (
	versionRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	gitSHARE  = regexp.MustCompile(`^[0-9a-fA-F]{7,40}$`)
)

// CoordinateError is a release coordinate that breaks its rule.
type CoordinateError struct {
	// Field is one of FieldVersion, FieldGitSHA and FieldImage.
	Field string
	// Value is the value as given; Error shows it quoted and truncated.
	Value string
	// Rule is the rule the value broke, one of the Rule constants.
	Rule string
	// Cause is the image parser's reason, if any.
	Cause error
}

// Error reads `version "1.0/evil": must be an OCI tag: ...`.
func (e *CoordinateError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Field, QuoteValue(e.Value), e.Rule)
	if e.Cause != nil {
		msg += " (" + Truncate(e.Cause.Error(), maxValueLen) + ")"
	}
	return msg
}

func (e *CoordinateError) Unwrap() error { return e.Cause }

// CheckVersion checks a release version against the OCI tag grammar, so that it can be the image tag.
func CheckVersion(v string) error {
	if !versionRE.MatchString(v) {
		return &CoordinateError{Field: FieldVersion, Value: v, Rule: RuleVersion}
	}
	return nil
}

// CheckGitSHA checks an abbreviated or full git commit sha.
func CheckGitSHA(sha string) error {
	if !gitSHARE.MatchString(sha) {
		return &CoordinateError{Field: FieldGitSHA, Value: sha, Rule: RuleGitSHA}
	}
	return nil
}

// CheckImage checks an OCI image reference (a tag or a digest reference) with go-containerregistry's parser.
func CheckImage(ref string) error {
	if _, err := name.ParseReference(ref); err != nil {
		return &CoordinateError{Field: FieldImage, Value: ref, Rule: RuleImage, Cause: err}
	}
	return nil
}

// CheckCoordinates checks the version and the git sha, and the image unless it is empty. It returns every
// broken rule, joined, each a *CoordinateError.
func CheckCoordinates(version, gitSHA, image string) error {
	errs := []error{CheckVersion(version), CheckGitSHA(gitSHA)}
	if image != "" {
		errs = append(errs, CheckImage(image))
	}
	return errors.Join(errs...)
}
