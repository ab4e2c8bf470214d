-- Instances, people (local and remote actors), local accounts and their sessions.

-- One row per server we know, keyed by its authority (host, plus port when not the default):
-- two servers on one host but different ports are two instances.
CREATE TABLE instance (
    id          bigserial PRIMARY KEY,
    authority   text NOT NULL UNIQUE CHECK (authority = lower(authority) AND authority <> ''),
    is_local    boolean NOT NULL DEFAULT false,
    software    text,
    version     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz
);
CREATE UNIQUE INDEX instance_single_local ON instance (is_local) WHERE is_local;

-- A user actor. Local people have a private key and a local_user row; remote people only
-- the public key their server published.
CREATE TABLE person (
    id                bigserial PRIMARY KEY,
    instance_id       bigint NOT NULL REFERENCES instance (id),
    name              text NOT NULL,
    display_name      text,
    bio               text,
    bio_html          text,
    ap_id             text NOT NULL UNIQUE,
    inbox_url         text NOT NULL,
    shared_inbox_url  text,
    public_key_pem    text NOT NULL,
    private_key_pem   text,
    local             boolean NOT NULL,
    deleted           boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz,
    last_refreshed_at timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT local OR private_key_pem IS NOT NULL)
);
CREATE UNIQUE INDEX person_instance_name ON person (instance_id, lower(name));

CREATE TABLE local_user (
    person_id      bigint PRIMARY KEY REFERENCES person (id) ON DELETE CASCADE,
    password_hash  text NOT NULL,
    is_admin       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Bearer tokens: only the SHA-256 of a token is stored.
CREATE TABLE session (
    token_hash    bytea PRIMARY KEY,
    person_id     bigint NOT NULL REFERENCES local_user (person_id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX session_person ON session (person_id);
