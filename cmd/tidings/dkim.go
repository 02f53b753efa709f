package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tidings/tidings/dkimkeys"
)

const dkimUsage = `Usage:
  tidings dkim keygen --domain D [--selector S] [--algorithm rsa|ed25519]
  tidings dkim list
  tidings dkim remove --domain D --selector S
`

// runDKIM runs `tidings dkim keygen|list|remove`.
func runDKIM(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runGroup(ctx, "dkim", dkimUsage, map[string]commandFunc{
		"keygen": runDKIMKeygen, "list": runDKIMList, "remove": runDKIMRemove,
	}, args, getenv, stdout, stderr)
}

// openDKIM connects to the database of the command's settings, migrates
// it, and returns its key store and a function that closes it. The store
// needs TIDINGS_SECRET: the private keys are sealed under it.
func openDKIM(ctx context.Context, get func(string) string) (*dkimkeys.Store, func(), error) {
	dsn, secret := get("TIDINGS_DATABASE_URL"), get("TIDINGS_SECRET")
	switch {
	case dsn == "" && secret == "":
		return nil, nil, errors.New("TIDINGS_DATABASE_URL and TIDINGS_SECRET are required (the secret seals the private keys; use the one `tidings serve` runs with)")
	case dsn == "":
		return nil, nil, errors.New("TIDINGS_DATABASE_URL is required")
	case len(secret) < 32:
		return nil, nil, errors.New("TIDINGS_SECRET is required, at least 32 characters: the one `tidings serve` runs with, which seals the private keys")
	}
	db, err := openMigrated(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	return &dkimkeys.Store{DB: db, Secret: []byte(secret)}, func() { db.Close() }, nil
}

func runDKIMKeygen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dkim keygen", "tidings dkim keygen --domain D [--selector S] [--algorithm rsa|ed25519] [--database-url URL] [--secret S]", stderr)
	domain := fs.String("domain", "", "the From domain to sign for, e.g. example.com (required)")
	selector := fs.String("selector", "", "the selector, a DNS label (default tidings-YYYYMM-ALGORITHM)")
	algorithm := fs.String("algorithm", dkimkeys.RSA, "rsa (RSA 2048, read by every receiver) or ed25519 (RFC 8463, alongside an rsa key)")
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL", "TIDINGS_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dkim keygen takes no arguments, got %q", fs.Args())
	}
	if *domain == "" {
		return errors.New("--domain is required")
	}
	store, closeDB, err := openDKIM(ctx, get)
	if err != nil {
		return err
	}
	defer closeDB()
	k, err := store.Generate(ctx, dkimkeys.GenerateRequest{Domain: *domain, Selector: *selector, Algorithm: *algorithm})
	if err != nil {
		return errors.New(tidingsMessage(err))
	}
	r := k.Record()
	fmt.Fprintf(stdout, "Made a DKIM key (%s) for %s with the selector %s. Publish this TXT record:\n\n", k.Algorithm, k.Domain, k.Selector)
	fmt.Fprintf(stdout, "  name:  %s\n", r.Name)
	fmt.Fprintf(stdout, "  value: %s\n\n", r.Value)
	fmt.Fprintf(stdout, "In a zone file:\n\n%s. IN TXT ( %s )\n\n", r.Name, r.Quoted())
	fmt.Fprintln(stdout, "A running `tidings serve` signs with it within a minute; until the record is published, receivers cannot check the signature.")
	return nil
}

func runDKIMList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dkim list", "tidings dkim list [--database-url URL] [--secret S]", stderr)
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL", "TIDINGS_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dkim list takes no arguments, got %q", fs.Args())
	}
	store, closeDB, err := openDKIM(ctx, get)
	if err != nil {
		return err
	}
	defer closeDB()
	keys, err := store.List(ctx)
	if err != nil {
		return err
	}
	_, unreadable, err := store.Signers(ctx)
	if err != nil {
		return err
	}
	broken := map[string]bool{}
	for _, u := range unreadable {
		broken[u.Key.Domain+" "+u.Key.Selector] = true
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSELECTOR\tALGORITHM\tCREATED\tSIGNS\tRECORD NAME")
	for _, k := range keys {
		signs := "yes"
		if broken[k.Domain+" "+k.Selector] {
			signs = "no: sealed under another TIDINGS_SECRET"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Domain, k.Selector, k.Algorithm, k.CreatedAt.UTC().Format(time.RFC3339), signs, k.Record().Name)
	}
	return tw.Flush()
}

func runDKIMRemove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dkim remove", "tidings dkim remove --domain D --selector S [--database-url URL] [--secret S]", stderr)
	domain := fs.String("domain", "", "the key's domain (required)")
	selector := fs.String("selector", "", "the key's selector, from `tidings dkim list` (required)")
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL", "TIDINGS_SECRET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dkim remove takes no arguments, got %q", fs.Args())
	}
	if *domain == "" || *selector == "" {
		return errors.New("--domain and --selector are required (see `tidings dkim list`)")
	}
	store, closeDB, err := openDKIM(ctx, get)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := store.Remove(ctx, *domain, *selector); err != nil {
		return errors.New(tidingsMessage(err))
	}
	fmt.Fprintf(stdout, "The key %s of %s is removed; mail is no longer signed with it. Its DNS record can go once mail signed with it has been read.\n", *selector, *domain)
	return nil
}
