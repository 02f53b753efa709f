package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tidings/tidings/editors"
)

func runUserAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user add", "tidings user add --email E [--password-file F] [--database-url URL]", stderr)
	email := fs.String("email", "", "the editor's email address, used to sign in (required)")
	pwFile := fs.String("password-file", "", "read the password from this file (first line) instead of a prompt")
	get := settingFlags(fs, getenv, "TIDINGS_DATABASE_URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" {
		return errors.New("--email is required")
	}
	dsn := get("TIDINGS_DATABASE_URL")
	if dsn == "" {
		return errors.New("TIDINGS_DATABASE_URL is required")
	}
	password, err := readPassword(*pwFile, stdin, stderr)
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := (&editors.Store{DB: db}).Create(ctx, *email, password); err != nil {
		return errors.New(tidingsMessage(err))
	}
	fmt.Fprintf(stdout, "Editor %s can now sign in at /editor/login.\n", strings.TrimSpace(*email))
	return nil
}

// readPassword reads the password from a file, from a terminal prompt without
// echo, or from the first line of standard input.
func readPassword(file string, stdin io.Reader, stderr io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(again) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(b), nil
	}
	if stdin == nil {
		return "", errors.New("no password: give --password-file or type it at the prompt")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password: give --password-file or type it at the prompt")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
