-- Site bans are logged too: an entry without a community is about the whole node.
ALTER TABLE mod_log ALTER COLUMN community_id DROP NOT NULL;
