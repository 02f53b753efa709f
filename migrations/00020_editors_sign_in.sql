-- +goose Up

-- Failed sign-ins slow down instead of locking an account: each key (an
-- account's address, typed or not, and a client IP) counts its failures, and
-- from the fifth within an hour of each other every further attempt must wait
-- twice as long as the one before, up to 15 minutes. A success clears the
-- keys. Keys of unknown addresses are kept too, so an unknown address behaves
-- as a known one does.
CREATE TABLE sign_in_throttles (
    key             text PRIMARY KEY,
    failures        int NOT NULL,
    last_failure_at timestamptz NOT NULL,
    wait_until      timestamptz
);
CREATE INDEX sign_in_throttles_last_failure ON sign_in_throttles (last_failure_at);

-- The hard lock-out is gone; two-factor sign-in (TOTP, RFC 6238) comes in.
-- totp_last_step is the time step of the last code accepted, so a code works
-- once. totp_pending_secret is the secret being enrolled, until confirmed.
ALTER TABLE editors
    DROP COLUMN failed_logins,
    DROP COLUMN locked_until,
    ADD COLUMN totp_secret bytea,
    ADD COLUMN totp_pending_secret bytea,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

-- One-time recovery codes, as SHA-256: they are random, so a fast hash
-- suffices.
CREATE TABLE editor_recovery_codes (
    editor_id bigint NOT NULL REFERENCES editors (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (editor_id, code_hash)
);

-- A sign-in whose password was right and that waits for its second factor.
CREATE TABLE editor_sign_ins (
    token_hash bytea PRIMARY KEY,
    editor_id  bigint NOT NULL REFERENCES editors (id) ON DELETE CASCADE,
    attempts   int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX editor_sign_ins_editor ON editor_sign_ins (editor_id);

-- +goose Down
DROP TABLE editor_sign_ins, editor_recovery_codes, sign_in_throttles;
ALTER TABLE editors
    DROP COLUMN totp_last_step,
    DROP COLUMN totp_pending_secret,
    DROP COLUMN totp_secret,
    ADD COLUMN failed_logins int NOT NULL DEFAULT 0,
    ADD COLUMN locked_until timestamptz;
