-- Reports: someone asks the moderators of a community (and the node's administrators) to look
-- at a post or a comment, or (received from a microblog) asks the administrators to look at an
-- account. Made here or received as a `Flag` from another server.
CREATE TABLE report (
    id              bigserial PRIMARY KEY,
    -- The `Flag`'s ActivityPub id: ours for a report made here, the sender's for a received one
    -- (a Mastodon Flag naming several statuses makes one report per status, all with its id).
    ap_id           text NOT NULL,
    reporter_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    -- The reported content's community; NULL for a report about an account (admins only).
    community_id    bigint REFERENCES community (id) ON DELETE CASCADE,
    post_id         bigint REFERENCES post (id) ON DELETE CASCADE,
    comment_id      bigint REFERENCES comment (id) ON DELETE CASCADE,
    -- What is reported (the post, comment or account), by ActivityPub id.
    object_ap_id    text NOT NULL,
    -- Whom it is about: the content's author, or the account.
    person_ap_id    text NOT NULL,
    reason          text NOT NULL,
    -- Made on this node (true) or received from another server.
    local           boolean NOT NULL,
    -- Received in Lemmy's shape about content of a local community: resolving it here sends a
    -- `Resolve` back to the reporter.
    answer_resolve  boolean NOT NULL DEFAULT false,
    resolved        boolean NOT NULL DEFAULT false,
    resolver_id     bigint REFERENCES person (id) ON DELETE SET NULL,
    resolved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT report_content_has_community CHECK (post_id IS NULL OR community_id IS NOT NULL)
);
-- One open report per reporter and item: a second one updates the first.
CREATE UNIQUE INDEX report_open_once ON report (reporter_id, object_ap_id) WHERE NOT resolved;
CREATE INDEX report_community ON report (community_id, id);
CREATE INDEX report_ap_id ON report (ap_id);
