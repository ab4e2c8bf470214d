-- Community moderation: the moderators a remote community's home lists, and the public log of
-- every moderation action (taken here or received).

-- Local communities keep their moderators in community_moderator (people this node knows). For a
-- remote community the list is the one its home serves (its moderators collection), kept by
-- ActivityPub id so that reading it costs no fetch of each moderator.
CREATE TABLE community_remote_moderator (
    community_id  bigint NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    ap_id         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, ap_id)
);
CREATE INDEX community_remote_moderator_ap_id ON community_remote_moderator (ap_id);

CREATE TABLE mod_log (
    id               bigserial PRIMARY KEY,
    -- remove_post, restore_post, remove_comment, restore_comment, lock_post, unlock_post,
    -- add_moderator, remove_moderator
    action           text NOT NULL,
    moderator_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    community_id     bigint NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    post_id          bigint REFERENCES post (id) ON DELETE CASCADE,
    comment_id       bigint REFERENCES comment (id) ON DELETE CASCADE,
    -- The person an action is about (a moderator added or removed; later, a ban).
    target_ap_id     text,
    reason           text,
    -- When a time-limited action (a ban) ends.
    until            timestamptz,
    -- Taken on this node (true) or received from another server (false).
    local            boolean NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mod_log_community ON mod_log (community_id, id);
CREATE INDEX mod_log_moderator ON mod_log (moderator_id, id);
