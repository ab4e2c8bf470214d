-- A post its community's moderators feature (Lemmy: pinned in the community).
ALTER TABLE post ADD COLUMN featured boolean NOT NULL DEFAULT false;
CREATE INDEX post_community_featured ON post (community_id, id) WHERE featured;
