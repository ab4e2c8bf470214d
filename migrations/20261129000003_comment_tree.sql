-- Comment trees: a materialised path of ids (ancestors then self) and maintained counts, so a page
-- of a tree is read without aggregating the thread.

CREATE TABLE comment (
    id                bigserial PRIMARY KEY,
    post_id           bigint NOT NULL REFERENCES post (id),
    creator_id        bigint NOT NULL REFERENCES person (id),
    parent_id         bigint REFERENCES comment (id),
    -- parent_id with 0 for top-level comments, so that "children of X" is always an equality
    -- and the keyset indexes below serve top-level pages and reply pages alike.
    parent_key        bigint NOT NULL GENERATED ALWAYS AS (coalesce(parent_id, 0)) STORED,
    -- Ids from the top-level ancestor down to this comment. Arrays compare element by element,
    -- so the subtree of a comment is one contiguous range of the btree index on `path`.
    path              bigint[] NOT NULL,
    depth             integer NOT NULL GENERATED ALWAYS AS (cardinality(path) - 1) STORED,
    content           text NOT NULL,
    content_html      text NOT NULL,
    ap_id             text NOT NULL UNIQUE,
    local             boolean NOT NULL,
    deleted           boolean NOT NULL DEFAULT false,
    removed           boolean NOT NULL DEFAULT false,
    published         timestamptz NOT NULL DEFAULT now(),
    updated           timestamptz,
    score             integer NOT NULL DEFAULT 0,
    upvotes           integer NOT NULL DEFAULT 0,
    downvotes         integer NOT NULL DEFAULT 0,
    child_count       integer NOT NULL DEFAULT 0,
    descendant_count  integer NOT NULL DEFAULT 0,
    hot               double precision NOT NULL DEFAULT 0,
    controversy       double precision NOT NULL DEFAULT 0,
    CHECK (path[cardinality(path)] = id),
    CHECK ((parent_id IS NULL) = (cardinality(path) = 1))
);

-- One keyset index per sort order, scoped to (post, parent): a page of the children of one
-- parent (top-level comments have parent NULL) reads exactly the rows it returns.
CREATE INDEX comment_children_hot ON comment (post_id, parent_key, hot, id);
CREATE INDEX comment_children_top ON comment (post_id, parent_key, score, id);
CREATE INDEX comment_children_time ON comment (post_id, parent_key, published, id);
CREATE INDEX comment_children_controversy ON comment (post_id, parent_key, controversy, id);
CREATE INDEX comment_path ON comment (path);
CREATE INDEX comment_creator ON comment (creator_id);

CREATE FUNCTION comment_set_ranks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.hot := canopy_hot(NEW.score, NEW.published);
    NEW.controversy := canopy_controversy(NEW.upvotes, NEW.downvotes);
    RETURN NEW;
END $$;
CREATE TRIGGER comment_ranks BEFORE INSERT OR UPDATE OF score, upvotes, downvotes, published ON comment
    FOR EACH ROW EXECUTE FUNCTION comment_set_ranks();

-- A new comment adds one to the descendant count of every ancestor, one to its parent's direct
-- reply count and one to the post's comment count. Every writer locks ancestors in ascending id
-- order first (an UPDATE alone locks in whatever order its scan finds the rows), then the post,
-- so concurrent replies in one thread queue up instead of deadlocking.
CREATE FUNCTION comment_tree_counts() RETURNS trigger LANGUAGE plpgsql AS $$
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
    UPDATE post SET comment_count = comment_count + 1 WHERE id = NEW.post_id;
    RETURN NULL;
END $$;
CREATE TRIGGER comment_tree_counts AFTER INSERT ON comment
    FOR EACH ROW EXECUTE FUNCTION comment_tree_counts();

CREATE TABLE comment_vote (
    comment_id  bigint NOT NULL REFERENCES comment (id) ON DELETE CASCADE,
    person_id   bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
    post_id     bigint NOT NULL REFERENCES post (id) ON DELETE CASCADE,
    score       smallint NOT NULL CHECK (score IN (-1, 1)),
    ap_id       text,
    published   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, person_id)
);

CREATE FUNCTION comment_vote_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    up_delta   integer := 0;
    down_delta integer := 0;
    target     bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        target := OLD.comment_id;
        IF OLD.score > 0 THEN up_delta := up_delta - 1; ELSE down_delta := down_delta - 1; END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        target := NEW.comment_id;
        IF NEW.score > 0 THEN up_delta := up_delta + 1; ELSE down_delta := down_delta + 1; END IF;
    END IF;
    IF up_delta <> 0 OR down_delta <> 0 THEN
        UPDATE comment
           SET upvotes = upvotes + up_delta,
               downvotes = downvotes + down_delta,
               score = score + up_delta - down_delta
         WHERE id = target;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER comment_vote_counts AFTER INSERT OR UPDATE OR DELETE ON comment_vote
    FOR EACH ROW EXECUTE FUNCTION comment_vote_counts();
