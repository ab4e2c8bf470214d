-- A community may take posts from its moderators only (Lemmy's `postingRestrictedToMods`).
-- Anyone may still comment. For a remote community the flag is the one its home serves.
ALTER TABLE community ADD COLUMN posting_restricted_to_mods boolean NOT NULL DEFAULT false;
