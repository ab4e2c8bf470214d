-- Every post and comment carries its author's upvote, as on Lemmy (which counts it on every post
-- and comment, remote ones too), so the same item has the same score on both. The vote is a real
-- row: the author sees it as their vote, can take it back or turn it into a downvote, and a Like
-- from the author arriving later over federation updates that row instead of counting twice.

-- Existing content: the author's upvote where the author has not voted on it yet, dated with the
-- content. The vote triggers count each one (and the rank triggers recompute hot and controversy),
-- exactly as for any other vote.
INSERT INTO post_vote (post_id, person_id, score, published)
SELECT id, creator_id, 1, published FROM post
ON CONFLICT (post_id, person_id) DO NOTHING;

INSERT INTO comment_vote (comment_id, person_id, post_id, score, published)
SELECT id, creator_id, post_id, 1, published FROM comment
ON CONFLICT (comment_id, person_id) DO NOTHING;

-- New content starts counted: score 1, one upvote, whatever the insert says. The ranks follow
-- from those counts as before.
CREATE OR REPLACE FUNCTION post_set_hot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.score := 1;
        NEW.upvotes := 1;
        NEW.downvotes := 0;
    END IF;
    NEW.hot := canopy_hot(NEW.score, NEW.published);
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION comment_set_ranks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.score := 1;
        NEW.upvotes := 1;
        NEW.downvotes := 0;
    END IF;
    NEW.hot := sign(NEW.score) * log(greatest(abs(NEW.score), 1))
               + extract(epoch FROM NEW.published) / 45000.0;
    NEW.controversy := CASE WHEN NEW.upvotes <= 0 OR NEW.downvotes <= 0 THEN 0
                            ELSE power(NEW.upvotes + NEW.downvotes,
                                       least(NEW.upvotes, NEW.downvotes)::double precision
                                       / greatest(NEW.upvotes, NEW.downvotes))
                       END;
    RETURN NEW;
END $$;

-- ... and its author's vote row is written in the same statement, by these triggers.
CREATE FUNCTION post_author_vote() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO post_vote (post_id, person_id, score, published)
    VALUES (NEW.id, NEW.creator_id, 1, NEW.published);
    RETURN NULL;
END $$;
CREATE TRIGGER post_author_vote AFTER INSERT ON post
    FOR EACH ROW EXECUTE FUNCTION post_author_vote();

CREATE FUNCTION comment_author_vote() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO comment_vote (comment_id, person_id, post_id, score, published)
    VALUES (NEW.id, NEW.creator_id, NEW.post_id, 1, NEW.published);
    RETURN NULL;
END $$;
CREATE TRIGGER comment_author_vote AFTER INSERT ON comment
    FOR EACH ROW EXECUTE FUNCTION comment_author_vote();

-- That vote is already in the content row's counts, so an inserted vote is counted only when a
-- statement inserted it, not a trigger: the author's vote above is the only vote a trigger
-- inserts. Counting it would cost an UPDATE of the new row (a second version of it in every
-- index) on every insert; the inbox path inserts many. Changes and deletions of votes, the
-- author's included, are counted whoever makes them (a cascade is a trigger too).
DROP TRIGGER post_vote_counts ON post_vote;
CREATE TRIGGER post_vote_counts AFTER UPDATE OR DELETE ON post_vote
    FOR EACH ROW EXECUTE FUNCTION post_vote_counts();
CREATE TRIGGER post_vote_counts_insert AFTER INSERT ON post_vote
    FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION post_vote_counts();

DROP TRIGGER comment_vote_counts ON comment_vote;
CREATE TRIGGER comment_vote_counts AFTER UPDATE OR DELETE ON comment_vote
    FOR EACH ROW EXECUTE FUNCTION comment_vote_counts();
CREATE TRIGGER comment_vote_counts_insert AFTER INSERT ON comment_vote
    FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION comment_vote_counts();
