-- +goose Up

-- The DKIM signing keys (RFC 6376, RFC 8463), one per domain and selector.
-- A message is signed for its From domain when that domain has a key here.
-- public_key is what the DNS record publishes: the SubjectPublicKeyInfo
-- (DER) of an RSA key, the 32 raw bytes of an Ed25519 key. private_key is
-- the PKCS #8 key sealed with AES-256-GCM under a key derived from
-- TIDINGS_SECRET, with the domain and selector as additional data, so a copy
-- of the database signs nothing, and a sealed key moved to another row does
-- not open.
CREATE TABLE dkim_keys (
    domain      text NOT NULL CONSTRAINT dkim_keys_domain_check CHECK (domain = lower(domain) AND domain <> ''),
    selector    text NOT NULL CONSTRAINT dkim_keys_selector_check CHECK (selector = lower(selector) AND selector <> ''),
    algorithm   text NOT NULL CONSTRAINT dkim_keys_algorithm_check CHECK (algorithm IN ('rsa', 'ed25519')),
    public_key  bytea NOT NULL,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT dkim_keys_pkey PRIMARY KEY (domain, selector)
);

-- +goose Down
DROP TABLE dkim_keys;
