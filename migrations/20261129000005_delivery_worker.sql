-- The delivery worker: per-object ordering of deliveries and per-instance delivery health.

-- The object an activity is about, copied from the activity so that the claim can keep the
-- deliveries about one object to one instance in order without a join.
ALTER TABLE delivery ADD COLUMN object_ap_id text;
UPDATE delivery d SET object_ap_id = a.object_ap_id FROM outbox_activity a WHERE a.id = d.activity_id;
CREATE INDEX delivery_pending_object ON delivery (authority, object_ap_id, id) WHERE state = 'pending';

-- How deliveries to an instance are going. `unreachable` after failing without a break for
-- longer than the worker's `unreachable_after`: its deliveries wait, one probe at a time.
ALTER TABLE instance
    ADD COLUMN delivery_state   text NOT NULL DEFAULT 'ok' CHECK (delivery_state IN ('ok', 'unreachable')),
    ADD COLUMN failing_since    timestamptz,
    ADD COLUMN last_success_at  timestamptz,
    ADD COLUMN last_failure_at  timestamptz,
    ADD COLUMN last_error       text,
    ADD COLUMN next_probe_at    timestamptz;
CREATE INDEX instance_unreachable ON instance (next_probe_at) WHERE delivery_state = 'unreachable';
