-- Bans (a community's moderators, or the site's admins, keep a person out) and personal blocks
-- (a user hides a person or a community from their own listings and trees).

-- A person banned from a community: their new posts, comments and votes there are refused
-- until `expires` (NULL: for good). An expired row simply stops applying; unbanning deletes it.
CREATE TABLE community_ban (
    community_id  bigint NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    person_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    reason        text,
    expires       timestamptz,
    -- Who banned (a moderator here or on the community's home).
    banned_by     bigint REFERENCES person (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, person_id)
);
CREATE INDEX community_ban_person ON community_ban (person_id);

-- A person banned from this whole node (by a local admin, or for a remote person by their own
-- instance's admins): nothing they do is accepted here until `expires` (NULL: for good).
CREATE TABLE site_ban (
    person_id     bigint PRIMARY KEY REFERENCES person (id) ON DELETE CASCADE,
    reason        text,
    expires       timestamptz,
    banned_by     bigint REFERENCES person (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Personal blocks: what a local user does not want to see.
CREATE TABLE person_block (
    person_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    target_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, target_id),
    CHECK (person_id <> target_id)
);
CREATE TABLE community_block (
    person_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    community_id  bigint NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, community_id)
);
