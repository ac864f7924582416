# Ferry's developer entry points. `make test` is what CI runs.
GO ?= go

# Packages whose tests run under the race detector: everything that does not link the Temporal server.
RACE_PKGS := ./workflows ./activities ./internal/spec ./internal/migrate ./internal/execrun/... ./internal/probe ./internal/router ./internal/demoapp ./internal/registry \
	./internal/codec
# Packages that start real servers (embedded Temporal, the ferry binary, the Docker engine, PostgreSQL, Vault) and
# run without -race.
SERVER_PKGS := ./integration ./internal/devserver ./worker ./starter ./internal/demo ./cmd/... ./workflows/internal/budgettest ./workflows/internal/locktest \
	./internal/docker ./internal/postgres ./internal/pgtest ./activities/internal/buildtest ./workflows/internal/migratetest \
	./internal/vault

.PHONY: test vet race server demo bench bench-router record build

test: vet race server

vet:
	$(GO) vet ./...

race:
	$(GO) test -race -count=1 $(RACE_PKGS)

# Server tests mostly wait on servers, timers and containers, so more of them run at once than there are cores:
# up to 4 parallel tests in a package (those that own their server, worker or names call t.Parallel), and three
# packages at a time. The integration package, the longest, goes first. The timeout leaves room for a slower
# machine.
server:
	$(GO) test -count=1 -timeout 45m -p 3 -parallel 4 $(SERVER_PKGS)

demo:
	$(GO) run ./cmd/ferry demo

build:
	CGO_ENABLED=0 $(GO) build -o bin/ferry ./cmd/ferry

bench:
	$(GO) run ./bench/overhead

bench-router:
	$(GO) run ./bench/router

# Re-record the workflow histories that the replay tests replay (see workflows/replay_test.go).
record:
	$(GO) run ./workflows/internal/record
