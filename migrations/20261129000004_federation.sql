-- Federation state: the instance actor's keys, inbound de-duplication, and the transactional
-- outbox (activities and their deliveries, written in the same transaction as the content).

-- The instance actor (an Application at /actor) signs this node's own fetches.
CREATE TABLE instance_actor (
    instance_id      bigint PRIMARY KEY REFERENCES instance (id),
    public_key_pem   text NOT NULL,
    private_key_pem  text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Ids of activities already received: a replay changes nothing.
CREATE TABLE received_activity (
    ap_id        text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX received_activity_age ON received_activity (received_at);

-- An activity this node sends, as signed JSON-LD, with who sends it.
CREATE TABLE outbox_activity (
    id            bigserial PRIMARY KEY,
    ap_id         text NOT NULL UNIQUE,
    kind          text NOT NULL,
    -- The object the activity is about, so that activities about one object can be kept in order.
    object_ap_id  text,
    actor_ap_id   text NOT NULL,
    -- Key used to sign: the person or community that acts.
    person_id     bigint REFERENCES person (id),
    community_id  bigint REFERENCES community (id),
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((person_id IS NULL) <> (community_id IS NULL))
);

-- One row per (activity, target inbox). The worker claims due rows.
CREATE TABLE delivery (
    id               bigserial PRIMARY KEY,
    activity_id      bigint NOT NULL REFERENCES outbox_activity (id) ON DELETE CASCADE,
    inbox_url        text NOT NULL,
    authority        text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (activity_id, inbox_url)
);
CREATE INDEX delivery_due ON delivery (next_attempt_at, id) WHERE state = 'pending';
