//go:build unix

package devserver

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"
)

var (
	benchShifts = flag.String("devserver.shifts", "1s,100ms,10ms",
		"BenchmarkTimerShift: comma-separated values of history.timerProcessorMaxTimeShift to measure")
	benchPollRPS = flag.String("devserver.pollrps", "20,100",
		"BenchmarkTimerShift: comma-separated values of history.timerProcessorMaxPollRPS to measure")
)

// BenchmarkTimerShift measures how late durable timers fire on the embedded server, alone and under load, for
// each pair of history.timerProcessorMaxTimeShift and history.timerProcessorMaxPollRPS given by the flags. The
// doc comment of DefaultTimerMaxTimeShift records the results. Run each pair in its own process, so that no
// stopped server's leftovers share the CPU:
//
//	go test -c -o devserver.test ./internal/devserver
//	./devserver.test -test.run '^$' -test.bench TimerShift -test.benchtime 2x -devserver.shifts 100ms -devserver.pollrps 100
//
// Metrics: ms-late/timer is the mean lateness of a timer (from its start to the workflow task that saw it fire),
// p99-ms-late and max-ms-late its tail, s/run the wall time of a run as a client sees it, cpu-s/run the CPU time
// this process (server and worker) spent on it, and for idle=2s the CPU seconds per second of a server with
// nothing to do. CPU time is what a setting costs even when other processes share the machine; lateness and wall
// time are what a user waits for.
//
// The loads: one workflow with 10 sequential 100 ms timers (a short bake loop); 200 and 400 workflows at once
// with 3 timers of 1 s each (many releases baking at the same time); 200 workflows at once with 5 timers of
// 100 ms (a stress test far beyond Ferry's use). Each run must finish within two minutes.
func BenchmarkTimerShift(b *testing.B) {
	for _, shift := range parseList(b, *benchShifts, time.ParseDuration) {
		for _, rps := range parseList(b, *benchPollRPS, strconv.Atoi) {
			b.Run(fmt.Sprintf("shift=%v/pollrps=%d", shift, rps), func(b *testing.B) {
				benchTimers(b, Options{Port: 0, UIPort: -1, TimerMaxTimeShift: shift, timerPollRPS: rps})
			})
		}
	}
}

// parseList parses a comma-separated flag value.
func parseList[T any](b *testing.B, list string, parse func(string) (T, error)) []T {
	var out []T
	for _, f := range strings.Split(list, ",") {
		v, err := parse(f)
		if err != nil {
			b.Fatalf("parse %q: %v", list, err)
		}
		out = append(out, v)
	}
	return out
}

// benchTimers starts a server with opts and a worker on it, and runs every load against them.
func benchTimers(b *testing.B, opts Options) {
	s := startServer(b, opts)
	c := dial(b, s)
	w := worker.New(c, "timers", worker.Options{})
	w.RegisterWorkflowWithOptions(sleeper, workflow.RegisterOptions{Name: "Sleeper"})
	if err := w.Start(); err != nil {
		b.Fatalf("start worker: %v", err)
	}
	b.Cleanup(w.Stop)

	b.Run("idle=2s", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			start := cpuTime(b)
			time.Sleep(2 * time.Second)
			cpu += cpuTime(b) - start
		}
		b.ReportMetric(cpu.Seconds()/float64(b.N)/2, "cpu-s/s")
	})
	b.Run("sequential=1x10x100ms", func(b *testing.B) {
		runSleepers(b, c, 1, SleeperInput{Timers: 10, Sleep: 100 * time.Millisecond})
	})
	for _, n := range []int{200, 400} {
		b.Run(fmt.Sprintf("concurrent=%dx3x1s", n), func(b *testing.B) {
			runSleepers(b, c, n, SleeperInput{Timers: 3, Sleep: time.Second})
		})
	}
	b.Run("stress=200x5x100ms", func(b *testing.B) {
		runSleepers(b, c, 200, SleeperInput{Timers: 5, Sleep: 100 * time.Millisecond})
	})
}

// SleeperInput is the input of sleeper.
type SleeperInput struct {
	Timers int
	Sleep  time.Duration
}

// sleeper sleeps in.Timers times for in.Sleep and returns how late each timer let it continue, in workflow
// time: from the timer's start to the workflow task that saw it fire.
func sleeper(ctx workflow.Context, in SleeperInput) ([]time.Duration, error) {
	late := make([]time.Duration, 0, in.Timers)
	for range in.Timers {
		start := workflow.Now(ctx)
		if err := workflow.Sleep(ctx, in.Sleep); err != nil {
			return nil, err
		}
		late = append(late, workflow.Now(ctx).Sub(start)-in.Sleep)
	}
	return late, nil
}

// runSleepers runs n sleeper workflows at once, b.N times, and reports the timers' lateness. Each run has two
// minutes: a server that falls further behind than that fails the benchmark.
func runSleepers(b *testing.B, c client.Client, n int, in SleeperInput) {
	var late []time.Duration
	var wall, cpu time.Duration
	for i := range b.N {
		cpuStart := cpuTime(b)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		results := make([][]time.Duration, n)
		start := time.Now()
		g, gctx := errgroup.WithContext(ctx)
		for j := range n {
			g.Go(func() error {
				id := fmt.Sprintf("%s/%d/%d", b.Name(), i, j)
				run, err := c.ExecuteWorkflow(gctx, client.StartWorkflowOptions{ID: id, TaskQueue: "timers"}, "Sleeper", in)
				if err != nil {
					return fmt.Errorf("start %s: %w", id, err)
				}
				return run.Get(gctx, &results[j])
			})
		}
		err := g.Wait()
		wall += time.Since(start)
		cpu += cpuTime(b) - cpuStart
		cancel()
		if err != nil {
			b.Fatalf("run %d: %v", i, err)
		}
		for _, r := range results {
			late = append(late, r...)
		}
	}
	slices.Sort(late)
	var sum time.Duration
	for _, d := range late {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(sum/time.Duration(len(late))), "ms-late/timer")
	b.ReportMetric(ms(late[len(late)*99/100]), "p99-ms-late")
	b.ReportMetric(ms(late[len(late)-1]), "max-ms-late")
	b.ReportMetric(wall.Seconds()/float64(b.N), "s/run")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/run")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
