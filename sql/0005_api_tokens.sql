-- gis-patrimoine 0005: API accounts, by token. Only a SHA-256 of each token is stored.
-- depends: 0004_import_helpers

CREATE TABLE patrimoine_sys.api_token (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    username     text NOT NULL CHECK (btrim(username) <> ''),
    role         text NOT NULL CHECK (role IN ('reader', 'editor', 'manager', 'admin')),
    communes     text[] NOT NULL DEFAULT '{}',  -- for editors: the communes whose assets they may change
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
COMMENT ON TABLE patrimoine_sys.api_token IS
    'API tokens: editors change the assets of their communes, managers those of every commune';
