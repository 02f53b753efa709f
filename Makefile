# The two commands: `make run` and `make test`. See README.md.
DATABASE_URL ?= postgres://tidings:tidings@127.0.0.1:5432/tidings?sslmode=disable

.PHONY: run test build check tidy postgres chromium axe fuzz user token

build:
	go build -o bin/tidings ./cmd/tidings

postgres:
	@scripts/postgres.sh

chromium:
	@scripts/chromium.sh

# axe-core, from npm, into .cache/axe: the browser tests run it on every page.
axe:
	@scripts/axe.sh

run: build postgres
	TIDINGS_DATABASE_URL='$(DATABASE_URL)' ./bin/tidings serve --dev

# make user EMAIL=you@example.com: an editor for the database make run uses
# (the password is asked for at the prompt). make token NAME=me: an API token;
# SCOPE=read makes one that may only look, EXPIRES=30d one that expires.
user: build postgres
	@test -n '$(EMAIL)' || { echo "usage: make user EMAIL=you@example.com"; exit 2; }
	@TIDINGS_DATABASE_URL='$(DATABASE_URL)' ./bin/tidings user add --email '$(EMAIL)'

token: build postgres
	@test -n '$(NAME)' || { echo "usage: make token NAME=what-it-is-for"; exit 2; }
	@TIDINGS_DATABASE_URL='$(DATABASE_URL)' ./bin/tidings token create --name '$(NAME)' $(if $(SCOPE),--scope '$(SCOPE)') $(if $(EXPIRES),--expires '$(EXPIRES)')

# tidy fails when `go mod tidy` would change go.mod or go.sum, so a
# dependency that is added, dropped or moved from indirect to direct is
# always committed with the code that needs it.
tidy:
	@go mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy; run go mod tidy:"; go mod tidy -diff; exit 1; }

check: tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

# -timeout: go test's default of 10 minutes a package is for one package on
# an idle machine; cmd/tidings's browser tests take their turns at a few
# browsers, so on a machine loaded by a second suite they need longer.
test: postgres chromium axe check
	go test -race -count=1 -timeout 30m ./...

# make fuzz runs every fuzz target for FUZZTIME each, one after the other:
# go test fuzzes one target per invocation. `make test` runs only their
# seeds (testdata/fuzz/FuzzXxx). A failure leaves the input that found it in
# the package's testdata/fuzz/FuzzXxx/; commit it with the fix.
FUZZTIME ?= 30s
FUZZFLAGS ?=

fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for fn in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -c6- | sort); do \
	    echo "== $$dir $$fn ($(FUZZTIME))"; \
	    go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$dir; \
	  done; \
	done

# make bench N=100000: one broadcast to N subscribers through a real worker
# process and an SMTP sink in another process, against raw go-mail; then
# SIGNUPS sign-ups on the hosted form at 4 and 16 in parallel; then, with
# FAULTS=temp-rcpt,lost-reply (or all), a broadcast through a faulty sink per
# fault mode. make bench-faults runs only the fault modes, all of them.
# DKIM=true (the default) times the broadcast again DKIM-signed, and the
# signer alone; DKIM=false leaves it out.
N ?= 10000
CONNECTIONS ?= 10
RUNS ?= 2
SIGNUPS ?= 5000
FAULTS ?=
DKIM ?= true

.PHONY: bench
bench: build postgres
	go build -o bin/tidings-bench ./cmd/tidings-bench
	./bin/tidings-bench -n $(N) -connections $(CONNECTIONS) -runs $(RUNS) -signups $(SIGNUPS) -faults '$(FAULTS)' -dkim=$(DKIM) -tidings bin/tidings

.PHONY: bench-faults
bench-faults: build postgres
	go build -o bin/tidings-bench ./cmd/tidings-bench
	./bin/tidings-bench -faults all -faults-only -connections $(CONNECTIONS) -tidings bin/tidings
