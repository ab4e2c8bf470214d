-- Stored, indexed sort keys for the front page and the community lists (issue 11): no listing
-- sorts a whole table per request.

-- Controversy of a post, as for comments; kept by the same BEFORE trigger as `hot`, now also
-- fired by changes of the vote counts.
ALTER TABLE post ADD COLUMN controversy double precision NOT NULL DEFAULT 0;
UPDATE post SET controversy = canopy_controversy(upvotes, downvotes)
 WHERE upvotes > 0 AND downvotes > 0;

CREATE OR REPLACE FUNCTION post_set_hot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.score := 1;
        NEW.upvotes := 1;
        NEW.downvotes := 0;
    END IF;
    NEW.hot := canopy_hot(NEW.score, NEW.published);
    NEW.controversy := canopy_controversy(NEW.upvotes, NEW.downvotes);
    RETURN NEW;
END $$;
DROP TRIGGER post_hot ON post;
CREATE TRIGGER post_hot BEFORE INSERT OR UPDATE OF score, upvotes, downvotes, published ON post
    FOR EACH ROW EXECUTE FUNCTION post_set_hot();

-- The UTC day (days since the Unix epoch) a post was published in: `top` over a day, week or
-- month reads the few best posts of each day of the window from an index on (day, score, id)
-- and merges them, instead of every post of the window.
CREATE FUNCTION canopy_day(published timestamptz) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN floor(extract(epoch FROM published) / 86400)::integer;

-- Front page (every community): one keyset index per post-row sort key.
CREATE INDEX post_hot ON post (hot, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_top ON post (score, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_new ON post (published, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_controversy ON post (controversy, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_day_top ON post (canopy_day(published), score, id)
    WHERE NOT deleted AND NOT removed;
-- One community's posts.
CREATE INDEX post_community_controversy ON post (community_id, controversy, id)
    WHERE NOT deleted AND NOT removed;
CREATE INDEX post_community_day_top ON post (community_id, canopy_day(published), score, id)
    WHERE NOT deleted AND NOT removed;

-- `active` (the newest comment, else the post's publication) and `most_comments` change with
-- every comment: they live in post_aggregates, whose row the comment trigger already updates
-- (one UPDATE, no extra row lock per reply). The community id is copied in (a post never moves)
-- so that a community's list by these keys is an index range too.
ALTER TABLE post_aggregates
    ADD COLUMN community_id bigint,
    ADD COLUMN active timestamptz;
UPDATE post_aggregates a
   SET community_id = p.community_id,
       active = greatest(p.published, (SELECT max(c.published) FROM comment c WHERE c.post_id = p.id))
  FROM post p WHERE p.id = a.post_id;
ALTER TABLE post_aggregates
    ALTER COLUMN community_id SET NOT NULL,
    ALTER COLUMN active SET NOT NULL;
CREATE INDEX post_aggregates_active ON post_aggregates (active, post_id);
CREATE INDEX post_aggregates_comments ON post_aggregates (comment_count, post_id);
CREATE INDEX post_aggregates_community_active ON post_aggregates (community_id, active, post_id);
CREATE INDEX post_aggregates_community_comments
    ON post_aggregates (community_id, comment_count, post_id);

CREATE OR REPLACE FUNCTION post_aggregates_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO post_aggregates (post_id, community_id, active)
    VALUES (NEW.id, NEW.community_id, NEW.published);
    RETURN NULL;
END $$;

-- The comment trigger as before, with `active` folded into the UPDATE it already made.
CREATE OR REPLACE FUNCTION comment_tree_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NOT NULL THEN
        PERFORM 1 FROM comment
          WHERE id = ANY (NEW.path[1:cardinality(NEW.path) - 1])
          ORDER BY id
          FOR NO KEY UPDATE;
        UPDATE comment
           SET descendant_count = descendant_count + 1,
               child_count = child_count + (id = NEW.parent_id)::integer
         WHERE id = ANY (NEW.path[1:cardinality(NEW.path) - 1]);
    END IF;
    UPDATE post_aggregates
       SET comment_count = comment_count + 1,
           active = greatest(active, NEW.published)
     WHERE post_id = NEW.post_id;
    RETURN NULL;
END $$;

-- Communities by activity: a time-invariant rank, like `hot`. Each new post adds 2^(t / 1 week)
-- to a sum kept as its base-2 logarithm, so that ordering by it orders by a post count that
-- halves every week, without ever refreshing a row. It is updated in the UPDATE the post insert
-- trigger already makes (comments do not count: that would lock the community row on every
-- reply, on the path the inbox benchmark measures).
ALTER TABLE community ADD COLUMN activity double precision NOT NULL DEFAULT 0;
-- Terms more than 60 weeks below the largest are left out (float underflow; they add < 2^-60).
UPDATE community c
   SET activity = s.top + ln(s.total) / ln(2.0::float8)
  FROM (SELECT community_id, max(x) AS top,
               sum(CASE WHEN x - m < -60 THEN 0 ELSE power(2.0::float8, x - m) END) AS total
          FROM (SELECT community_id, extract(epoch FROM published)::float8 / 604800 AS x,
                       max(extract(epoch FROM published)::float8 / 604800)
                           OVER (PARTITION BY community_id) AS m
                  FROM post) e
         GROUP BY community_id) s
 WHERE s.community_id = c.id;

CREATE OR REPLACE FUNCTION community_post_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    x double precision := extract(epoch FROM NEW.published)::float8 / 604800;
BEGIN
    UPDATE community
       SET post_count = post_count + 1,
           activity = greatest(activity, x)
                      + CASE WHEN abs(activity - x) > 60 THEN 0
                             ELSE ln(1 + power(2.0::float8, -abs(activity - x))) / ln(2.0::float8)
                        END
     WHERE id = NEW.community_id;
    RETURN NULL;
END $$;

CREATE INDEX community_subscribers ON community (subscriber_count, id)
    WHERE NOT deleted AND NOT removed;
CREATE INDEX community_activity ON community (activity, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX community_created ON community (created_at, id) WHERE NOT deleted AND NOT removed;
