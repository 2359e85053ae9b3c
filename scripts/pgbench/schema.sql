SET client_min_messages = warning;
-- The tables one ingest touches, reduced to the columns and indexes that cost: a visitor
-- upserted by (channel, external id), its open dialog touched, the message inserted under
-- the (channel, external_id) unique index, one follow-up job row (River's river_job has a
-- jsonb args column and GIN-indexed tags/metadata, here with fastupdate off as in our
-- migration), and a pg_notify. See run.sh.
DROP TABLE IF EXISTS bench_visitors, bench_dialogs, bench_messages, bench_jobs;
CREATE TABLE bench_visitors (
    id          bigserial PRIMARY KEY,
    channel_id  bigint NOT NULL,
    external_id text NOT NULL,
    first_name  text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, external_id)
);
CREATE TABLE bench_dialogs (
    id              bigserial PRIMARY KEY,
    visitor_id      bigint NOT NULL UNIQUE,
    last_message    text NOT NULL DEFAULT '',
    last_message_at timestamptz,
    unread          int NOT NULL DEFAULT 0
);
CREATE TABLE bench_messages (
    id          bigserial PRIMARY KEY,
    dialog_id   bigint NOT NULL,
    channel_id  bigint NOT NULL,
    external_id text,
    text        text NOT NULL,
    attachments jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ON bench_messages (channel_id, external_id);
CREATE INDEX ON bench_messages (dialog_id, id);
CREATE INDEX ON bench_messages USING gin (to_tsvector('simple', text));
CREATE TABLE bench_jobs (
    id        bigserial PRIMARY KEY,
    kind      text NOT NULL,
    args      jsonb NOT NULL,
    metadata  jsonb NOT NULL DEFAULT '{}',
    tags      text[] NOT NULL DEFAULT '{}',
    state     text NOT NULL DEFAULT 'available',
    scheduled_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON bench_jobs (state, scheduled_at, id);
CREATE INDEX ON bench_jobs USING gin (metadata) WITH (fastupdate = off);
CREATE INDEX ON bench_jobs USING gin (tags) WITH (fastupdate = off);
