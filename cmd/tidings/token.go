package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tidings/tidings/editors"
)

const tokenUsage = `Usage:
  tidings token create --name NAME [--scope read|write] [--expires DURATION]
  tidings token list
  tidings token revoke ID
`

// runToken runs `tidings token create|list|revoke`.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "token", tokenUsage, map[string]commandFunc{
		"create": runTokenCreate, "list": runTokenList, "revoke": runTokenRevoke,
	}, args, getenv, stdout, stderr)
}

// openEditors connects to the database of the command's settings, migrates
// it, and returns its editors store and a function that closes it.
func openEditors(ctx context.Context, get func(string) string) (*editors.Store, func(), error) {
	dsn := get("TIDINGS_DATABASE_URL")
	if dsn == "" {
		return nil, nil, errors.New("TIDINGS_DATABASE_URL is required")
	}
	db, err := openMigrated(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	return &editors.Store{DB: db}, func() { db.Close() }, nil
}

func runTokenCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token create", "tidings token create --name NAME [--scope read|write] [--expires DURATION] [--database-url URL]", stderr)
	name := fs.String("name", "", "what the token is for, e.g. \"zapier\" (required)")
	scope := fs.String("scope", editors.ScopeWrite, "read (may only look) or write (may also change)")
	expires := fs.String("expires", "", "lifetime, e.g. 30d, 720h or 90m (default: until revoked)")
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create takes no arguments, got %q", fs.Args())
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("--name is required")
	}
	if *scope != editors.ScopeRead && *scope != editors.ScopeWrite {
		return fmt.Errorf("--scope: %q is not read or write", *scope)
	}
	lifetime, err := editors.ParseLifetime(*expires)
	if err != nil {
		return fmt.Errorf("--expires: %s", tidingsMessage(err))
	}
	store, closeDB, err := openEditors(ctx, get)
	if err != nil {
		return err
	}
	defer closeDB()
	_, secret, err := store.CreateToken(ctx, editors.TokenRequest{Name: *name, Scope: *scope, Lifetime: lifetime})
	if err != nil {
		return errors.New(tidingsMessage(err))
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func runTokenList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token list", "tidings token list [--database-url URL]", stderr)
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token list takes no arguments, got %q", fs.Args())
	}
	store, closeDB, err := openEditors(ctx, get)
	if err != nil {
		return err
	}
	defer closeDB()
	tokens, err := store.Tokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tLAST USED\tEXPIRES")
	when := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, t := range tokens {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, when(&t.CreatedAt, ""), when(t.LastUsedAt, "never"), when(t.ExpiresAt, "never"))
	}
	return tw.Flush()
}

func runTokenRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token revoke", "tidings token revoke [--database-url URL] ID", stderr)
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: tidings token revoke ID (the ID from `tidings token list`)")
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("token revoke: %q is not a token ID (see `tidings token list`)", fs.Arg(0))
	}
	store, closeDB, err := openEditors(ctx, get)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := store.RevokeToken(ctx, id); err != nil {
		return errors.New(tidingsMessage(err))
	}
	fmt.Fprintf(stdout, "Token %d is revoked.\n", id)
	return nil
}
