-- Identities, their refresh tokens (stored only as SHA-256), and the signing keys.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per issued refresh token. Rotation marks the old row rotated and adds a new
-- row in the same family; presenting a rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Ed25519 keys for access tokens; the newest signs, the previous stays in the JWKS.
CREATE TABLE signing_keys (
    kid        text PRIMARY KEY,
    public_key text NOT NULL,   -- base64url
    secret_key text NOT NULL,   -- base64url
    created_at timestamptz NOT NULL DEFAULT now()
);
