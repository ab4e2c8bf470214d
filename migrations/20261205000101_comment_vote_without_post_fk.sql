-- `comment_vote.post_id` copies its comment's post. Its foreign key to `post` checked nothing that
-- the one to `comment` does not (a comment cannot exist without its post, and a post with comments
-- cannot be deleted), but it took a second KEY SHARE lock of the post row in every vote insert, and
-- every comment insert now writes a vote (its author's): on a busy thread that row is the one
-- every reply already locks.
ALTER TABLE comment_vote DROP CONSTRAINT comment_vote_post_id_fkey;
