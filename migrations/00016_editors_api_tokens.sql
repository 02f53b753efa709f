-- +goose Up

-- API tokens get a scope and an optional expiry. Tokens made before could do
-- everything, so they stay "write". last_used_at (there already) is written at
-- most once a minute per token, so authenticating a request stays a read.
ALTER TABLE api_tokens
    ADD COLUMN scope text NOT NULL DEFAULT 'write' CONSTRAINT api_tokens_scope_check CHECK (scope IN ('read', 'write')),
    ADD COLUMN expires_at timestamptz;

-- The development token of `tidings serve --dev` is kept in the clear, so a
-- restart prints the same one instead of minting another. Only dev mode
-- writes here; revoking the token deletes its row with it.
CREATE TABLE dev_tokens (
    name     text PRIMARY KEY,
    token_id bigint NOT NULL UNIQUE REFERENCES api_tokens (id) ON DELETE CASCADE,
    secret   text NOT NULL
);

-- +goose Down
DROP TABLE dev_tokens;
ALTER TABLE api_tokens DROP COLUMN expires_at, DROP COLUMN scope;
