package main

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/worker"
)

// stack is an embedded Temporal server (with its UI and Ferry's search attributes), a client of it and,
// unless disabled, a worker on the task queue.
type stack struct {
	server *devserver.Server
	client client.Client
	worker *worker.Worker
	// g is the caller's options, pointed at the embedded server.
	g GlobalOptions
}

// startStack starts what o asks for; `ferry demo` uses it too. Stop it with stop.
func startStack(ctx context.Context, g GlobalOptions, o DevOptions) (*stack, error) {
	srv, err := devserver.Start(ctx, devserver.Options{
		IP: o.IP, Port: o.Port, UIPort: o.UIPort, DBFile: o.DBFile, Namespace: g.Namespace, Logger: g.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("start dev server: %w", err)
	}
	s := &stack{server: srv, g: g}
	s.g.Address, s.g.UIURL = srv.FrontendHostPort(), srv.UIURL()
	if s.client, err = s.g.dial(ctx); err != nil {
		return nil, errors.Join(err, srv.Stop())
	}
	if !o.NoWorker {
		s.worker = worker.New(s.client, worker.Options{TaskQueue: g.TaskQueue, Logger: g.logger})
		if err := s.worker.Start(); err != nil {
			s.client.Close()
			return nil, errors.Join(fmt.Errorf("start worker: %w", err), srv.Stop())
		}
	}
	return s, nil
}

// stop stops the worker (letting running activities finish, unless interrupted again), the client and the
// server.
func (s *stack) stop() error {
	if s.worker != nil {
		stopWorker(s.worker, s.g.logger)
	}
	s.client.Close()
	return s.server.Stop()
}
