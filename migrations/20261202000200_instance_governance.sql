-- Instance governance: administrators block instances, or federate only with listed ones.
--
-- `blocked` and `allowed` sit on the instance row that listings and trees already join through
-- the author (and the community), so hiding a refused instance's content costs a boolean test on
-- a row that is read anyway. The mode and a generation counter live in a one-row table: every
-- change of the policy bumps the counter, and each serve and worker process polls it to reload
-- its in-memory copy of the policy.
ALTER TABLE instance
    ADD COLUMN blocked       boolean NOT NULL DEFAULT false,
    ADD COLUMN block_reason  text,
    ADD COLUMN blocked_at    timestamptz,
    ADD COLUMN allowed       boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT instance_local_not_blocked CHECK (NOT (is_local AND blocked));
CREATE INDEX instance_blocked ON instance (id) WHERE blocked;
CREATE INDEX instance_allowed ON instance (id) WHERE allowed;

CREATE TABLE federation_policy (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    allowlist   boolean NOT NULL DEFAULT false,
    generation  bigint NOT NULL DEFAULT 0
);
INSERT INTO federation_policy DEFAULT VALUES;

-- Whether this node refuses to federate with the instance at `target` (an authority): it is
-- blocked, or the node is in allow-list mode and it is not listed (nor local).
CREATE FUNCTION federation_refuses(target text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT i.blocked OR (p.allowlist AND NOT i.allowed AND NOT i.is_local)
         FROM instance i WHERE i.authority = target),
        p.allowlist)
    FROM federation_policy p
$$;
