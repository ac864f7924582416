package worker

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/docker"
)

// engineRetry is how often the worker asks again for the ID of a Docker engine that did not answer.
const engineRetry = 30 * time.Second

// engineQueues runs one activity worker per Docker engine that this worker reaches, on that engine's task
// queue (activities.EngineQueue): a release binds each environment on the Docker platform to the engine that
// runs its containers and sends the environment's Docker activities there, so that only workers that reach
// that engine run them, whatever each worker's host "local" is.
type engineQueues struct {
	client client.Client
	// queue is the worker's main task queue.
	queue   string
	options sdkworker.Options
	// register registers the activities an engine's queue serves.
	register func(sdkworker.Worker)
	logger   *slog.Logger

	mu      sync.Mutex
	running map[string]sdkworker.Worker // by engine ID
	stopped bool
}

// poll makes the worker poll the queue of engine id, once: calling it again, from any goroutine, changes
// nothing. It fails once the worker stops.
func (q *engineQueues) poll(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return errors.New("the worker is stopping")
	}
	if _, ok := q.running[id]; ok {
		return nil
	}
	queue := activities.EngineQueue(q.queue, id)
	w := sdkworker.New(q.client, queue, q.options)
	q.register(w)
	if err := w.Start(); err != nil {
		return err
	}
	q.running[id] = w
	q.logger.Info("polling the task queue of a Docker engine", "engine", id, "taskQueue", queue)
	return nil
}

// discover asks eng (the worker's host name) for its ID and polls its queue; an engine that does not answer is
// asked again every engineRetry until it does or ctx ends.
func (q *engineQueues) discover(ctx context.Context, name string, eng *docker.Client) {
	for attempt := 0; ; attempt++ {
		askCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		id, err := eng.EngineID(askCtx)
		cancel()
		if err == nil {
			err = q.poll(id)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		level := slog.LevelDebug
		if attempt == 0 {
			level = slog.LevelWarn
		}
		q.logger.Log(ctx, level, "docker engine not reached: the worker runs no activity bound to it until it is",
			"dockerHost", name, "error", err, "retryIn", engineRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(engineRetry):
		}
	}
}

// stop stops every engine queue's worker, letting their running activities finish as the main worker does.
func (q *engineQueues) stop() {
	q.mu.Lock()
	q.stopped = true
	workers := slices.Collect(maps.Values(q.running))
	q.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.Stop)
	}
	wg.Wait()
}
