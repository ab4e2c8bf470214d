-- A thread's comments in publication order across every level, for the `context` collection
-- (FEP-7888): a keyset page of one post's comments reads only the rows it returns.
CREATE INDEX comment_thread_time ON comment (post_id, published, id);
