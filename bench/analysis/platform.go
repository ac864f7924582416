package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/router"
)

// platform is the exec platform's command (-platform ADMIN_URL STABLE_URL CANARY_URL LOG), for every op. It
// keeps the lane's stable version in LOG.stable: current prints it, promote makes the released version
// stable, and set-weight routes FERRY_WEIGHT % of the traffic to the canary app as FERRY_VERSION and the
// rest to the stable app as the stable version. After the router took the weights it appends
// "unix-nanos op weight version" to LOG.
func platform(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want ADMIN_URL STABLE_URL CANARY_URL LOG, got %q", args)
	}
	op, version := os.Getenv("FERRY_OP"), os.Getenv("FERRY_VERSION")
	weight, _ := strconv.Atoi(os.Getenv("FERRY_WEIGHT"))
	state := args[3] + ".stable"
	stable, err := os.ReadFile(state)
	if errors.Is(err, os.ErrNotExist) {
		stable, err = []byte(stableVersion), nil
	}
	if err != nil {
		return err
	}
	r := routes{service: os.Getenv("FERRY_SERVICE"), stable: args[1], canary: args[2], stableVersion: string(stable)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc := &router.Client{BaseURL: args[0], Token: token}
	switch op {
	case "current":
		fmt.Println(r.stableVersion)
	case "promote": // the released version now serves everything, as stable
		if err := os.WriteFile(state, []byte(version), 0o644); err != nil {
			return err
		}
		r.stableVersion = version
		err = setRoutes(ctx, rc, r)
	case "set-weight":
		r.weight, r.version = weight, version
		err = setRoutes(ctx, rc, r)
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(args[3], os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s %d %s\n", time.Now().UnixNano(), op, weight, version)
	return err
}

// routes is one lane's routing: weight percent to the canary app as version, the rest to the stable app as
// stableVersion.
type routes struct {
	service, stable, canary string
	weight                  int
	version, stableVersion  string
}

// setRoutes sets r on the router.
func setRoutes(ctx context.Context, rc *router.Client, r routes) error {
	rt := router.Routing{Service: r.service, Env: env, Hosts: []string{r.service + "." + env + ".localhost"},
		Tracks: []router.Track{{Name: "stable", Version: r.stableVersion, Weight: 100 - r.weight, Backends: []router.Backend{{URL: r.stable}}}}}
	if r.weight > 0 {
		rt.Tracks = append(rt.Tracks, router.Track{Name: "canary", Version: r.version, Weight: r.weight, Backends: []router.Backend{{URL: r.canary}}})
	}
	_, err := rc.SetWeights(ctx, rt)
	return err
}

// weightChanges reads the platform log for version: when it first took a weight above 0, and when it went
// back to 0 after that (zero times for what the log does not have yet).
func weightChanges(path, version string) (up, down time.Time, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return up, down, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[1] != "set-weight" || f[3] != version {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		w, _ := strconv.Atoi(f[2])
		switch {
		case w > 0 && up.IsZero():
			up = time.Unix(0, ns)
		case w == 0 && !up.IsZero():
			return up, time.Unix(0, ns), nil
		}
	}
	return up, down, nil
}
