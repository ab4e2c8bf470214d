-- The reply notification is written by the comment insert itself (a trigger), not by a second
-- statement after it: on the inbox's path that statement was a round trip and a commit of its
-- own per reply, and, in a transaction of its own, it share-locked the thread's post row again
-- (its foreign key) beside the insert's lock, where in the insert's transaction the lock is
-- already held. Same rule as before: the author of the parent comment (or of the post, for a
-- top-level comment) is notified when they are local, are not the reply's author and do not
-- block its author; one notification per person and item (a mention of the same person in the
-- reply adds none).

CREATE FUNCTION comment_reply_notification() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification (person_id, kind, post_id, comment_id, actor_id)
    SELECT r.id, 'reply', NEW.post_id, NEW.id, NEW.creator_id
      FROM person r
     WHERE r.id = CASE WHEN NEW.parent_id IS NULL
                       THEN (SELECT p.creator_id FROM post p WHERE p.id = NEW.post_id)
                       ELSE (SELECT pc.creator_id FROM comment pc WHERE pc.id = NEW.parent_id)
                  END
       AND r.local AND r.id <> NEW.creator_id
       AND NOT EXISTS (SELECT 1 FROM person_block b
                        WHERE b.person_id = r.id AND b.target_id = NEW.creator_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER comment_reply_notification AFTER INSERT ON comment
    FOR EACH ROW EXECUTE FUNCTION comment_reply_notification();
