-- +goose Up

-- Editors sign in to the web UI with an email and a password (bcrypt).
-- failed_logins and locked_until implement the lock-out after repeated failures.
CREATE TABLE editors (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash bytea NOT NULL,
    failed_logins int NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL
);

-- Sessions: only a SHA-256 of the cookie's token is kept.
CREATE TABLE editor_sessions (
    token_hash   bytea PRIMARY KEY,
    editor_id    bigint NOT NULL REFERENCES editors (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    ip           text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX editor_sessions_editor ON editor_sessions (editor_id);

-- +goose Down
DROP TABLE editor_sessions, editors;
