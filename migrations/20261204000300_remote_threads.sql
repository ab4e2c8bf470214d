-- What this node knows about the thread of a remote post, for backfill and resync: where the
-- thread's home serves it (the FEP-7888 `context` collection, the post's `replies`), how many
-- comments the home counts, when it was last synced, and a claim that keeps two processes (or
-- two readers) from syncing the same thread at once. A row is written when a remote post is
-- stored, or on its first sync. Local posts have none: their threads are complete here.
CREATE TABLE remote_thread (
    post_id               bigint PRIMARY KEY REFERENCES post (id) ON DELETE CASCADE,
    context_url           text,
    replies_url           text,
    remote_comment_count  integer,
    synced_at             timestamptz,
    claimed_until         timestamptz
);

-- The background resync picks remote posts published in the last days.
CREATE INDEX post_remote_published ON post (published) WHERE NOT local;
