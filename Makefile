# The two commands: `make run` and `make test`. See README.md.
DATABASE_URL ?= postgres://tidings:tidings@127.0.0.1:5432/tidings?sslmode=disable

.PHONY: run test build check postgres chromium

build:
	go build -o bin/tidings ./cmd/tidings

postgres:
	@scripts/postgres.sh

chromium:
	@scripts/chromium.sh

run: build postgres
	TIDINGS_DATABASE_URL='$(DATABASE_URL)' ./bin/tidings serve --dev

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet ./...

test: postgres chromium check
	go test -race -count=1 ./...
