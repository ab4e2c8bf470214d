-- A post's comment count moves off the post row into a row of its own.
--
-- Every comment insert takes a KEY SHARE lock on its post through the foreign key, and used to
-- update `post.comment_count` as well. On a busy thread the post row then always had a locker
-- and an updater at once, so its lock became a MultiXact that every reply had to extend and
-- wait on. `post_aggregates` is not referenced by any foreign key: updating it conflicts only with
-- other updates of the same counter, for the length of one statement's commit.

CREATE TABLE post_aggregates (
    post_id        bigint PRIMARY KEY REFERENCES post (id) ON DELETE CASCADE,
    comment_count  integer NOT NULL DEFAULT 0
);

INSERT INTO post_aggregates (post_id, comment_count) SELECT id, comment_count FROM post;

ALTER TABLE post DROP COLUMN comment_count;

CREATE FUNCTION post_aggregates_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO post_aggregates (post_id) VALUES (NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER post_aggregates_row AFTER INSERT ON post
    FOR EACH ROW EXECUTE FUNCTION post_aggregates_row();

-- Same rules as before (ancestors locked in ascending id order, then the post's counter), with
-- the counter in post_aggregates.
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
    UPDATE post_aggregates SET comment_count = comment_count + 1 WHERE post_id = NEW.post_id;
    RETURN NULL;
END $$;

-- The rank expressions written out: a plpgsql call of a SQL function is not inlined and goes
-- through the SQL-function executor on every row. They must stay equal to canopy_hot and
-- canopy_controversy, which the post trigger and the tests still use.
CREATE OR REPLACE FUNCTION comment_set_ranks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.hot := sign(NEW.score) * log(greatest(abs(NEW.score), 1))
               + extract(epoch FROM NEW.published) / 45000.0;
    NEW.controversy := CASE WHEN NEW.upvotes <= 0 OR NEW.downvotes <= 0 THEN 0
                            ELSE power(NEW.upvotes + NEW.downvotes,
                                       least(NEW.upvotes, NEW.downvotes)::double precision
                                       / greatest(NEW.upvotes, NEW.downvotes))
                       END;
    RETURN NEW;
END $$;
