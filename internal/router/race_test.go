//go:build race

package router

// raceEnabled shrinks the heaviest tests under the race detector, which slows each request many times.
const raceEnabled = true
