-- Notifications of replies and mentions, saved posts and comments, profile pictures and the
-- settings a local user keeps.

-- Something that happened to a local user: a reply to their post or comment, or a mention of
-- them. `actor_id` is who wrote the item. One notification per user and item (a reply that also
-- mentions its parent's author notifies once, as a reply).
CREATE TABLE notification (
    id          bigserial PRIMARY KEY,
    person_id   bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('reply', 'mention')),
    post_id     bigint NOT NULL REFERENCES post (id) ON DELETE CASCADE,
    comment_id  bigint REFERENCES comment (id) ON DELETE CASCADE,
    actor_id    bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    read        boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (person_id, post_id, comment_id)
);
-- A user's notifications newest first, and their unread count.
CREATE INDEX notification_person ON notification (person_id, id);
CREATE INDEX notification_unread ON notification (person_id) WHERE NOT read;

-- A post (comment_id NULL) or comment a local user saved.
CREATE TABLE saved_item (
    id          bigserial PRIMARY KEY,
    person_id   bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    post_id     bigint NOT NULL REFERENCES post (id) ON DELETE CASCADE,
    comment_id  bigint REFERENCES comment (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (person_id, post_id, comment_id)
);
CREATE INDEX saved_item_person ON saved_item (person_id, id);

-- Pictures elsewhere (URLs, not uploads): a local user's own, a remote person's as their server
-- publishes them (`icon` and `image` of the actor).
ALTER TABLE person ADD COLUMN avatar_url text, ADD COLUMN banner_url text;

-- A local user's listing defaults.
ALTER TABLE local_user ADD COLUMN default_sort text NOT NULL DEFAULT 'hot',
                       ADD COLUMN default_listing text NOT NULL DEFAULT 'all';


-- When the last Follow of a pending community follow was sent: following again re-sends it only
-- after a while (see docs/API.md), never for an accepted follow.
ALTER TABLE community_follow ADD COLUMN requested_at timestamptz NOT NULL DEFAULT now();

-- The people a local post or comment mentions, as its Mention tags name them: their ActivityPub
-- ids and the `@name@host` text (pairwise; NULL when it mentions nobody).
ALTER TABLE post ADD COLUMN mention_hrefs text[], ADD COLUMN mention_names text[];
ALTER TABLE comment ADD COLUMN mention_hrefs text[], ADD COLUMN mention_names text[];
