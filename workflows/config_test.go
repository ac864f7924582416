package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/activities"
)

// An environment whose secret cannot be resolved fails before anything deploys there: no migration, deploy or
// rollback, and the reason names the variable. The platform requests carry the references, never values, and
// the status records the config hash of each environment that resolved.
func TestMissingSecretFailsBeforeDeploy(t *testing.T) {
	h := newHarness(t)
	h.stable["staging"] = &Artifact{Version: "1.4.1", Image: "registry.local/checkout:1.4.1"}
	h.env.OnActivity(platformActs.ResolveConfig, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ConfigRequest) (activities.ConfigResult, error) {
			if in.Env == "production" {
				return activities.ConfigResult{}, temporal.NewNonRetryableApplicationError(
					"environment production: secret DB (vault:secret/checkout/production#db): the secret at secret/checkout/production has no key db",
					activities.ErrTypeSecretMissing, nil)
			}
			return activities.ConfigResult{Hash: "hmac-sha256:" + in.Env}, nil
		})
	stg, prod := staging(), production()
	stg.Secrets = map[string]string{"DB": "vault:secret/checkout/staging#db"}
	prod.Gate.Approval = nil
	prod.Gate.Auto = true
	prod.Secrets = map[string]string{"DB": "vault:secret/checkout/production#db"}
	h.run(releaseInput(stg, prod))

	res, _ := h.result()
	if res.State != StateFailed {
		t.Fatalf("got state %q, want failed", res.State)
	}
	h.wantCalls("deploy staging stable 1.4.2 0", "ready staging stable 1.4.2 0")
	if got := res.Environments[0].ConfigHash; got != "hmac-sha256:staging" {
		t.Errorf("staging: got config hash %q, want the activity's", got)
	}
	p := res.Environments[1]
	if p.State != StateFailed || !strings.Contains(p.Reason, "secret DB (vault:secret/checkout/production#db)") {
		t.Errorf("production: got %s %q, want failed naming the secret", p.State, p.Reason)
	}
	for _, r := range h.requests {
		if r.Vars.Env == "staging" && r.Secrets["DB"] != "vault:secret/checkout/staging#db" {
			t.Errorf("got request secrets %v, want the staging reference", r.Secrets)
		}
	}
}
