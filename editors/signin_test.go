package editors_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/editors"
)

// signIn tries a password sign-in from ip.
func signIn(s *editors.Store, tb testing.TB, email, pw, ip string) (*editors.SignIn, error) {
	tb.Helper()
	return s.Authenticate(tb.Context(), editors.SignInRequest{Email: email, Password: pw, IP: ip})
}

func TestStore_Authenticate(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s, _ := MustOpenStore(t)
		want := MustCreate(t, s, "ed@example.com")
		got, err := signIn(s, t, " ED@example.com ", password, "203.0.113.1")
		if err != nil || got.Editor == nil || got.Editor.ID != want.ID || got.Challenge != "" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})

	// A wrong password, an unknown address and an account that must wait
	// get the same code and the same message.
	t.Run("ErrSameAnswer", func(t *testing.T) {
		t.Parallel()
		s, _ := MustOpenStore(t)
		MustCreate(t, s, "ed@example.com")
		MustCreate(t, s, "slow@example.com")
		for i := 0; i < 5; i++ {
			signIn(s, t, "slow@example.com", "wrong password", "198.51.100."+itoa(int64(i)))
		}
		var answers []error
		for _, tt := range []struct{ email, password string }{
			{"ed@example.com", "wrong password"},
			{"nobody@example.com", password},
			{"slow@example.com", password}, // right, but it must wait
			{"not an address", password},
			{"ed@example.com", ""},
			{"ed@example.com", strings.Repeat("x", 201)},
		} {
			_, err := signIn(s, t, tt.email, tt.password, "203.0.113.9")
			wantCode(t, "Authenticate("+tt.email+", "+tt.password+")", err, tidings.EUNAUTHORIZED)
			answers = append(answers, err)
		}
		for i, err := range answers {
			if tidings.ErrorMessage(err) != tidings.ErrorMessage(answers[0]) {
				t.Errorf("answer %d says %q, the first %q", i, tidings.ErrorMessage(err), tidings.ErrorMessage(answers[0]))
			}
		}
	})

	// From the fifth failure in a row each attempt waits twice as long, up
	// to 15 minutes; attempts made while waiting do not count; a success
	// starts the count again.
	t.Run("SlowDownPerAccount", func(t *testing.T) {
		t.Parallel()
		s, clk := MustOpenStore(t)
		MustCreate(t, s, "ed@example.com")
		ip := 0
		try := func(pw string) error {
			ip++ // a new client each time: this is the account's key alone
			_, err := signIn(s, t, "ed@example.com", pw, "192.0.2."+itoa(int64(ip)))
			return err
		}
		for i := 1; i <= 4; i++ {
			try("wrong password")
		}
		if err := try(password); err != nil {
			t.Fatalf("after 4 failures the right password: %v", err)
		}
		for i := 1; i <= 5; i++ {
			try("wrong password")
		}
		wait := 2 * time.Second
		for n := 5; n <= 16; n++ {
			// Within the wait even the right password is refused, and the
			// refusals do not count.
			clk.Add(wait - time.Millisecond)
			for range 3 {
				if err := try(password); tidings.ErrorCode(err) != tidings.EUNAUTHORIZED {
					t.Fatalf("after %d failures, %v into a wait of %v: %v, want it refused", n, wait-time.Millisecond, wait, err)
				}
			}
			clk.Add(time.Millisecond)
			if n == 16 {
				break
			}
			if err := try("wrong password"); tidings.ErrorCode(err) != tidings.EUNAUTHORIZED {
				t.Fatal(err)
			}
			wait = min(2*wait, 15*time.Minute)
		}
		if wait != 15*time.Minute {
			t.Fatalf("the wait grew to %v, want the cap of 15m", wait)
		}
		if err := try(password); err != nil {
			t.Fatalf("after the wait the right password: %v", err)
		}
		// The success started the count again.
		for i := 1; i <= 4; i++ {
			try("wrong password")
		}
		if err := try(password); err != nil {
			t.Fatalf("after a success and 4 failures: %v", err)
		}
	})

	t.Run("SlowDownPerIP", func(t *testing.T) {
		t.Parallel()
		s, clk := MustOpenStore(t)
		MustCreate(t, s, "ed@example.com")
		for i := 1; i <= 5; i++ {
			signIn(s, t, "guess"+itoa(int64(i))+"@example.com", password, "203.0.113.66")
		}
		if _, err := signIn(s, t, "ed@example.com", password, "203.0.113.66"); tidings.ErrorCode(err) != tidings.EUNAUTHORIZED {
			t.Fatalf("from the guessing IP: %v, want it refused", err)
		}
		if _, err := signIn(s, t, "ed@example.com", password, "203.0.113.67"); err != nil {
			t.Fatalf("from another IP: %v", err)
		}
		clk.Add(2 * time.Second)
		if _, err := signIn(s, t, "ed@example.com", password, "203.0.113.66"); err != nil {
			t.Fatalf("from the guessing IP after its wait: %v", err)
		}
	})

	t.Run("QuietHourForgets", func(t *testing.T) {
		t.Parallel()
		s, clk := MustOpenStore(t)
		MustCreate(t, s, "ed@example.com")
		for i := 1; i <= 4; i++ {
			signIn(s, t, "ed@example.com", "wrong password", "192.0.2.1")
		}
		clk.Add(time.Hour)
		// Four more after a quiet hour are the first four of a new count.
		for i := 1; i <= 4; i++ {
			signIn(s, t, "ed@example.com", "wrong password", "192.0.2.1")
		}
		if _, err := signIn(s, t, "ed@example.com", password, "192.0.2.1"); err != nil {
			t.Fatalf("after a quiet hour: %v", err)
		}
	})
}

// MustTwoFactor turns two-factor sign-in on for e and returns its secret
// and recovery codes; the clock moves on a step, so the code it used is past.
func MustTwoFactor(tb testing.TB, s *editors.Store, clk *clock, e *editors.Editor) ([]byte, []string) {
	tb.Helper()
	en, err := s.BeginTOTP(tb.Context(), e.ID)
	if err != nil {
		tb.Fatal(err)
	}
	secret := secretOf(tb, en)
	codes, err := s.ConfirmTOTP(tb.Context(), e.ID, editors.TOTP(secret, clk.Now()))
	if err != nil {
		tb.Fatal(err)
	}
	clk.Add(30 * time.Second)
	return secret, codes
}

func TestStore_TwoFactor(t *testing.T) {
	t.Parallel()

	t.Run("Enrol", func(t *testing.T) {
		t.Parallel()
		s, clk := MustOpenStore(t)
		ctx := t.Context()
		e := MustCreate(t, s, "ed@example.com")
		if _, err := s.ConfirmTOTP(ctx, e.ID, "123456"); tidings.ErrorCode(err) != tidings.ECONFLICT {
			t.Fatalf("confirm before begin: %v, want ECONFLICT", err)
		}
		en, err := s.BeginTOTP(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		secret := secretOf(t, en)
		if len(secret) != 20 {
			t.Fatalf("secret of %d bytes, want 20", len(secret))
		}
		a, err := s.Account(ctx, e.ID)
		if err != nil || a.TwoFactor || a.Pending == nil || a.Pending.Secret != en.Secret {
			t.Fatalf("account while enrolling: %+v, %v", a, err)
		}
		// A wrong code leaves it off.
		wrong := editors.TOTP(secret, clk.Now().Add(-5*time.Minute))
		for _, code := range []string{wrong, "", "abc", "12345", "1234567", "\x00\x00\x00\x00\x00\x00"} {
			_, err := s.ConfirmTOTP(ctx, e.ID, code)
			wantCode(t, "ConfirmTOTP("+code+")", err, tidings.EINVALID)
		}
		if a, _ := s.Account(ctx, e.ID); a.TwoFactor {
			t.Fatal("two-factor sign-in is on after wrong codes")
		}
		// The code of the step before counts (a clock a little behind).
		codes, err := s.ConfirmTOTP(ctx, e.ID, editors.TOTP(secret, clk.Now().Add(-30*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		if len(codes) != 10 {
			t.Fatalf("%d recovery codes, want 10", len(codes))
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if len(c) != 11 || c[5] != '-' || seen[c] {
				t.Fatalf("recovery code %q (of %q)", c, codes)
			}
			seen[c] = true
		}
		var stored, plain int
		s.DB.Get(&stored, `SELECT count(*) FROM editor_recovery_codes WHERE editor_id = $1`, e.ID)
		for _, c := range codes {
			var n int
			s.DB.Get(&n, `SELECT count(*) FROM editor_recovery_codes WHERE code_hash IN (convert_to($1, 'UTF8'), convert_to($2, 'UTF8'))`, c, strings.ReplaceAll(c, "-", ""))
			plain += n
		}
		if stored != 10 || plain != 0 {
			t.Fatalf("%d recovery codes stored, %d of them in the clear; want 10 hashed", stored, plain)
		}
		if a, _ := s.Account(ctx, e.ID); !a.TwoFactor || a.Pending != nil || a.RecoveryLeft != 10 {
			t.Fatalf("account after confirming: %+v", a)
		}
		if _, err := s.BeginTOTP(ctx, e.ID); tidings.ErrorCode(err) != tidings.ECONFLICT {
			t.Fatalf("begin while on: %v, want ECONFLICT", err)
		}
		if _, err := s.BeginTOTP(ctx, 999999); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Fatalf("begin for nobody: %v, want ENOTFOUND", err)
		}
	})

	t.Run("SignIn", func(t *testing.T) {
		t.Parallel()
		s, clk := MustOpenStore(t)
		ctx := t.Context()
		e := MustCreate(t, s, "ed@example.com")
		secret, codes := MustTwoFactor(t, s, clk, e)

		in, err := signIn(s, t, "ed@example.com", password, "192.0.2.1")
		if err != nil || in.Editor != nil || in.Challenge == "" {
			t.Fatalf("password step: %+v, %v; want a challenge and no editor", in, err)
		}
		verify := func(challenge, code string) (*editors.Editor, error) {
			return s.VerifyCode(ctx, editors.CodeRequest{Challenge: challenge, Code: code, IP: "192.0.2.1"})
		}
		// Wrong codes.
		for _, code := range []string{editors.TOTP(secret, clk.Now().Add(-2*time.Minute)), "000000x", "", "zzzzz-zzzzz"} {
			_, err := verify(in.Challenge, code)
			wantCode(t, "VerifyCode("+code+")", err, tidings.EUNAUTHORIZED)
		}
		// The right one, typed with a space.
		code := editors.TOTP(secret, clk.Now())
		got, err := verify(in.Challenge, code[:3]+" "+code[3:])
		if err != nil || got.ID != e.ID {
			t.Fatalf("right code: %+v, %v", got, err)
		}
		// The challenge is used up, and the code cannot be used again.
		_, err = verify(in.Challenge, code)
		wantCode(t, "VerifyCode with a used challenge", err, tidings.EEXPIRED)
		in2, _ := signIn(s, t, "ed@example.com", password, "192.0.2.1")
		_, err = verify(in2.Challenge, code)
		wantCode(t, "VerifyCode with a replayed code", err, tidings.EUNAUTHORIZED)

		// A recovery code works once, in capitals too.
		got, err = verify(in2.Challenge, strings.ToUpper(codes[3]))
		if err != nil || got.ID != e.ID {
			t.Fatalf("recovery code: %+v, %v", got, err)
		}
		in3, _ := signIn(s, t, "ed@example.com", password, "192.0.2.1")
		_, err = verify(in3.Challenge, codes[3])
		wantCode(t, "VerifyCode with a used recovery code", err, tidings.EUNAUTHORIZED)
		if a, _ := s.Account(ctx, e.ID); a.RecoveryLeft != 9 {
			t.Fatalf("%d recovery codes left, want 9", a.RecoveryLeft)
		}

		// A challenge lasts five minutes.
		in4, _ := signIn(s, t, "ed@example.com", password, "192.0.2.1")
		clk.Add(5 * time.Minute)
		_, err = verify(in4.Challenge, editors.TOTP(secret, clk.Now()))
		wantCode(t, "VerifyCode after five minutes", err, tidings.EEXPIRED)

		// Five wrong codes end a challenge.
		clk.Add(time.Hour)
		in5, _ := signIn(s, t, "ed@example.com", password, "192.0.2.2")
		for i := 0; i < 5; i++ {
			verify(in5.Challenge, "000000")
		}
		_, err = verify(in5.Challenge, editors.TOTP(secret, clk.Now()))
		wantCode(t, "VerifyCode after five wrong codes", err, tidings.EEXPIRED)
		for _, c := range []string{"", "nope", strings.Repeat("a", 200)} {
			_, err := verify(c, "123456")
			wantCode(t, "VerifyCode(challenge "+c+")", err, tidings.EEXPIRED)
		}
	})

	t.Run("Disable", func(t *testing.T) {
		t.Parallel()
		s, clk := MustOpenStore(t)
		ctx := t.Context()
		e := MustCreate(t, s, "ed@example.com")
		secret, codes := MustTwoFactor(t, s, clk, e)
		for _, code := range []string{"", "123", codes[0], editors.TOTP(secret, clk.Now().Add(-30*time.Second))} {
			wantCode(t, "DisableTOTP("+code+")", s.DisableTOTP(ctx, e.ID, code), tidings.EINVALID)
		}
		if a, _ := s.Account(ctx, e.ID); !a.TwoFactor {
			t.Fatal("wrong codes turned two-factor sign-in off")
		}
		if err := s.DisableTOTP(ctx, e.ID, editors.TOTP(secret, clk.Now())); err != nil {
			t.Fatal(err)
		}
		if a, _ := s.Account(ctx, e.ID); a.TwoFactor || a.RecoveryLeft != 0 {
			t.Fatalf("after disabling: %+v", a)
		}
		wantCode(t, "DisableTOTP when off", s.DisableTOTP(ctx, e.ID, "123456"), tidings.ECONFLICT)
		in, err := signIn(s, t, "ed@example.com", password, "192.0.2.1")
		if err != nil || in.Editor == nil {
			t.Fatalf("sign-in after disabling: %+v, %v", in, err)
		}
	})
}
