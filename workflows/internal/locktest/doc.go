// Package locktest runs the EnvLock workflow on the embedded Temporal server, where signal delivery and
// continue-as-new behave as in production. It holds tests only; they link the server, so they live apart
// from package workflows, whose tests run under the race detector.
package locktest
