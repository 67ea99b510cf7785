-- Nonces of signed webhook requests, each usable once: a signed request replayed within its
-- replay window (same path, same signature) is refused because its nonce is here. A nonce is
-- kept until its request's timestamp leaves the window (expires_at); after that the
-- timestamp alone refuses the replay, so expired rows are deleted.
CREATE TABLE perf.webhook_nonces (
    nonce       text PRIMARY KEY CHECK (nonce ~ '^[A-Za-z0-9_-]{16,128}$'),
    expires_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_nonces_expiry_idx ON perf.webhook_nonces (expires_at);
