package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the format of the state file; a file of another version is refused, not guessed at.
const stateVersion = 1

// state is what the state file holds: every route and its pause.
type state struct {
	Version int           `json:"version"`
	Routes  []storedRoute `json:"routes"`
}

// storedRoute is a route as the state file and a change describe it.
type storedRoute struct {
	Routing
	Paused *PauseStatus `json:"paused,omitempty"`
}

// PauseStatus describes a pause: since when requests are held, and for how long each at most.
type PauseStatus struct {
	MaxHold Duration  `json:"maxHold"`
	Since   time.Time `json:"since"`
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes d as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// loadState reads the state file; a missing file (or no path) is an empty state.
func loadState(path string) (state, error) {
	if path == "" {
		return state{Version: stateVersion}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{Version: stateVersion}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("load state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("load state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return state{}, fmt.Errorf("load state %s: version %d, want %d", path, st.Version, stateVersion)
	}
	for _, sr := range st.Routes {
		if err := sr.Validate(); err != nil {
			return state{}, fmt.Errorf("load state %s: route %s/%s: %w", path, sr.Service, sr.Env, err)
		}
	}
	return st, nil
}

// saveState writes the state file atomically: a reader (or a crash) sees the old file or the new one,
// never a part. Without a path it does nothing.
func saveState(path string, st state) (err error) {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(append(b, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	// The rename is durable once the directory is synced; a failure here leaves the new file in place.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
