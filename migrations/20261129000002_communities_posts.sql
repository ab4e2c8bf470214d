-- Communities (group actors), their moderators and followers, and posts.

CREATE TABLE community (
    id                bigserial PRIMARY KEY,
    instance_id       bigint NOT NULL REFERENCES instance (id),
    name              text NOT NULL,
    title             text NOT NULL,
    description       text,
    description_html  text,
    ap_id             text NOT NULL UNIQUE,
    inbox_url         text NOT NULL,
    shared_inbox_url  text,
    followers_url     text,
    public_key_pem    text NOT NULL,
    private_key_pem   text,
    local             boolean NOT NULL,
    creator_id        bigint REFERENCES person (id),
    deleted           boolean NOT NULL DEFAULT false,
    removed           boolean NOT NULL DEFAULT false,
    subscriber_count  integer NOT NULL DEFAULT 0,
    post_count        integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz,
    last_refreshed_at timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT local OR private_key_pem IS NOT NULL)
);
CREATE UNIQUE INDEX community_instance_name ON community (instance_id, lower(name));
CREATE INDEX community_local_name ON community (local, name, id);

CREATE TABLE community_moderator (
    community_id  bigint NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    person_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, person_id)
);

-- A person following a community. `pending` until the community's server accepts.
CREATE TABLE community_follow (
    community_id  bigint NOT NULL REFERENCES community (id) ON DELETE CASCADE,
    person_id     bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    pending       boolean NOT NULL DEFAULT false,
    ap_id         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (community_id, person_id)
);
CREATE INDEX community_follow_person ON community_follow (person_id);

-- A person following a person.
CREATE TABLE person_follow (
    target_id    bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    follower_id  bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    pending      boolean NOT NULL DEFAULT false,
    ap_id        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_id, follower_id)
);
CREATE INDEX person_follow_follower ON person_follow (follower_id);

-- Time-invariant "hot" rank (the order of magnitude of the score plus the age, one magnitude
-- per 12.5 hours): newer content simply starts higher, so the rank never needs refreshing and
-- a stored column can carry a keyset index.
CREATE FUNCTION canopy_hot(score integer, published timestamptz) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN sign(score) * log(greatest(abs(score), 1)) + extract(epoch FROM published) / 45000.0;

-- Controversy: many votes, evenly split, rank highest.
CREATE FUNCTION canopy_controversy(upvotes integer, downvotes integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN upvotes <= 0 OR downvotes <= 0 THEN 0
                ELSE power(upvotes + downvotes,
                           least(upvotes, downvotes)::double precision / greatest(upvotes, downvotes))
           END;

CREATE TABLE post (
    id                 bigserial PRIMARY KEY,
    community_id       bigint NOT NULL REFERENCES community (id),
    creator_id         bigint NOT NULL REFERENCES person (id),
    title              text NOT NULL,
    url                text,
    body               text,
    body_html          text,
    ap_id              text NOT NULL UNIQUE,
    local              boolean NOT NULL,
    deleted            boolean NOT NULL DEFAULT false,
    removed            boolean NOT NULL DEFAULT false,
    locked             boolean NOT NULL DEFAULT false,
    published          timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz,
    score              integer NOT NULL DEFAULT 0,
    upvotes            integer NOT NULL DEFAULT 0,
    downvotes          integer NOT NULL DEFAULT 0,
    comment_count      integer NOT NULL DEFAULT 0,
    hot                double precision NOT NULL DEFAULT 0
);
CREATE INDEX post_community_hot ON post (community_id, hot, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_community_top ON post (community_id, score, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_community_new ON post (community_id, published, id) WHERE NOT deleted AND NOT removed;
CREATE INDEX post_creator ON post (creator_id);

CREATE TABLE post_vote (
    post_id    bigint NOT NULL REFERENCES post (id) ON DELETE CASCADE,
    person_id  bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    score      smallint NOT NULL CHECK (score IN (-1, 1)),
    ap_id      text,
    published  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, person_id)
);

-- Post hot rank is set from its score and publication time; votes update both through the trigger below.
CREATE FUNCTION post_set_hot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.hot := canopy_hot(NEW.score, NEW.published);
    RETURN NEW;
END $$;
CREATE TRIGGER post_hot BEFORE INSERT OR UPDATE OF score, published ON post
    FOR EACH ROW EXECUTE FUNCTION post_set_hot();

-- Vote counts change by the difference between the old and the new vote, in the voter's
-- transaction: concurrent votes serialise on the post row and every count stays exact.
CREATE FUNCTION post_vote_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    up_delta   integer := 0;
    down_delta integer := 0;
    target     bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        target := OLD.post_id;
        IF OLD.score > 0 THEN up_delta := up_delta - 1; ELSE down_delta := down_delta - 1; END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        target := NEW.post_id;
        IF NEW.score > 0 THEN up_delta := up_delta + 1; ELSE down_delta := down_delta + 1; END IF;
    END IF;
    IF up_delta <> 0 OR down_delta <> 0 THEN
        UPDATE post
           SET upvotes = upvotes + up_delta,
               downvotes = downvotes + down_delta,
               score = score + up_delta - down_delta
         WHERE id = target;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER post_vote_counts AFTER INSERT OR UPDATE OR DELETE ON post_vote
    FOR EACH ROW EXECUTE FUNCTION post_vote_counts();

CREATE FUNCTION community_post_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE community SET post_count = post_count + 1 WHERE id = NEW.community_id;
    RETURN NULL;
END $$;
CREATE TRIGGER community_post_count AFTER INSERT ON post
    FOR EACH ROW EXECUTE FUNCTION community_post_count();

CREATE FUNCTION community_subscriber_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NOT NEW.pending THEN
        UPDATE community SET subscriber_count = subscriber_count + 1 WHERE id = NEW.community_id;
    ELSIF TG_OP = 'DELETE' AND NOT OLD.pending THEN
        UPDATE community SET subscriber_count = subscriber_count - 1 WHERE id = OLD.community_id;
    ELSIF TG_OP = 'UPDATE' AND OLD.pending <> NEW.pending THEN
        UPDATE community SET subscriber_count = subscriber_count + CASE WHEN NEW.pending THEN -1 ELSE 1 END
         WHERE id = NEW.community_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER community_subscriber_count AFTER INSERT OR UPDATE OR DELETE ON community_follow
    FOR EACH ROW EXECUTE FUNCTION community_subscriber_count();
