// Command tidings runs the Tidings newsletter and coaching-series engine:
// the web server, the scheduler and the dispatcher, against Postgres and an
// SMTP relay.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	_ "time/tzdata" // time zones must resolve the same on every machine

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/internal/pqstmt"
	"github.com/tidings/tidings/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tidings:", err)
		}
		os.Exit(2)
	}
}

const usage = `Tidings: a self-hosted newsletter and coaching-series engine.

Usage:
  tidings serve [--dev] [--role web|worker|all]   run the server (migrates first)
  tidings migrate                                 apply database migrations and exit
  tidings token create --name NAME [--scope read|write] [--expires DURATION]
                                                  print a new API token
  tidings token list                              list the API tokens (never their secrets)
  tidings token revoke ID                         revoke an API token
  tidings user add --email E [--password-file F]  create an editor (password from a prompt or a file)
  tidings dkim keygen --domain D [--selector S] [--algorithm rsa|ed25519]
                                                  make a DKIM signing key and print its DNS record
  tidings dkim list                               list the DKIM keys
  tidings dkim remove --domain D --selector S     remove a DKIM key

Settings come from TIDINGS_* environment variables; flags of the same name
override them. Run 'tidings COMMAND --help' for a command's flags.
`

// run is the whole program, so that tests can start it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "dkim":
		return runDKIM(ctx, rest, getenv, stdout, stderr)
	case "user":
		if len(rest) == 0 || rest[0] != "add" {
			if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help") {
				fmt.Fprint(stdout, "Usage: tidings user add --email E [--password-file F]\n")
				return nil
			}
			return errors.New("usage: tidings user add --email E [--password-file F]")
		}
		return runUserAdd(ctx, rest[1:], getenv, stdin, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// newFlagSet makes a flag set that prints its usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// commandFunc runs one command of a group such as `tidings token`.
type commandFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// runGroup runs the command of group (such as "token") that args name, from
// cmds, or shows usage: on stdout when asked for, on stderr with an error
// otherwise.
func runGroup(ctx context.Context, group, usage string, cmds map[string]commandFunc, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("usage: tidings %s %s", group, strings.Join(slices.Sorted(maps.Keys(cmds)), "|"))
	}
	sub, rest := args[0], args[1:]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := cmds[sub]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown %s command %q", group, sub)
	}
	return cmd(ctx, rest, getenv, stdout, stderr)
}

// openMigrated connects to the database at dsn (see openDB) and migrates it.
func openMigrated(ctx context.Context, dsn string) (*sqlx.DB, error) {
	db, err := openDB(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := migrations.Up(ctx, db.DB); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openDB connects to Postgres and waits briefly for it to answer. Its
// connections keep the statements they run prepared (see pqstmt).
func openDB(ctx context.Context, dsn string) (*sqlx.DB, error) {
	c, err := pqstmt.Connector(dsn)
	if err != nil {
		return nil, fmt.Errorf("TIDINGS_DATABASE_URL: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(c), "postgres")
	db.SetMaxOpenConns(40)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var last error
	for i := 0; i < 20; i++ {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		last = db.PingContext(pctx)
		cancel()
		if last == nil {
			return db, nil
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	db.Close()
	return nil, fmt.Errorf("TIDINGS_DATABASE_URL: cannot reach the database: %w", last)
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "tidings migrate [--database-url URL]", stderr)
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn := get("TIDINGS_DATABASE_URL")
	if dsn == "" {
		return errors.New("TIDINGS_DATABASE_URL is required")
	}
	db, err := openMigrated(ctx, dsn)
	if err != nil {
		return err
	}
	db.Close()
	fmt.Fprintln(stdout, "database is up to date")
	return nil
}

// tidingsMessage is the message of an application error, for the command line.
func tidingsMessage(err error) string {
	if tidings.ErrorCode(err) == tidings.EINTERNAL {
		return err.Error()
	}
	return tidings.ErrorMessage(err)
}
