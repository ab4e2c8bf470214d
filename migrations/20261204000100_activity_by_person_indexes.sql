-- NodeInfo's active-user figures ask, per local person, when they last posted, commented or
-- voted: an index on (person, time) answers each with one lookup. The post and comment indexes
-- replace the creator-only ones they extend.
CREATE INDEX post_creator_published ON post (creator_id, published);
DROP INDEX post_creator;
CREATE INDEX comment_creator_published ON comment (creator_id, published);
DROP INDEX comment_creator;
CREATE INDEX post_vote_person_published ON post_vote (person_id, published);
CREATE INDEX comment_vote_person_published ON comment_vote (person_id, published);
