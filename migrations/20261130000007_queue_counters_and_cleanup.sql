-- What operators see of the delivery queue, and what lets finished rows be cleaned up.

-- Delivery outcomes per instance. `deliveries_failed` counts failed attempts (retried ones and
-- permanent refusals) as the worker records them. `deliveries_succeeded` counts delivered rows
-- that the cleanup has removed; the delivered rows still in `delivery` are added when read, so
-- a success never writes the instance row (many parallel sends to one instance would queue on it).
ALTER TABLE instance
    ADD COLUMN deliveries_succeeded  bigint NOT NULL DEFAULT 0,
    ADD COLUMN deliveries_failed     bigint NOT NULL DEFAULT 0;

-- The cleanup deletes finished deliveries oldest first, and activities by age.
CREATE INDEX delivery_finished ON delivery (state, finished_at) WHERE state <> 'pending';
CREATE INDEX outbox_activity_age ON outbox_activity (created_at);
