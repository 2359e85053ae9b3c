-- omnichat schema, version 1. Append-only: later changes go in new numbered files.

-- River buffers inserts into its GIN indexes in a pending list whose flush stalls one
-- insert for up to seconds every ~45k jobs; with fastupdate off every insert pays a little
-- and none stalls (measured, see DESIGN.md "Jobs").
ALTER INDEX IF EXISTS river_job_args_index SET (fastupdate = off);
ALTER INDEX IF EXISTS river_job_metadata_index SET (fastupdate = off);

CREATE TABLE users (
    id               bigserial PRIMARY KEY,
    email            text NOT NULL,
    name             text NOT NULL DEFAULT '',
    role             text NOT NULL CHECK (role IN ('admin', 'operator')),
    password_hash    text NOT NULL,
    active           boolean NOT NULL DEFAULT true,
    locale           text NOT NULL DEFAULT '' CHECK (locale IN ('', 'en', 'ru')),
    -- status is the operator's own choice; "online" also needs presence (an open stream).
    status           text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    capacity         integer NOT NULL DEFAULT 10 CHECK (capacity >= 0),
    -- last time a dialog was handed to this operator: ties in assignment go to the one idle longest.
    last_assigned_at timestamptz NOT NULL DEFAULT 'epoch',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Sign-in sessions and API tokens; only a SHA-256 of the token is stored.
CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    kind         text NOT NULL DEFAULT 'session' CHECK (kind IN ('session', 'api')),
    name         text NOT NULL DEFAULT '',
    csrf_token   text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT '',
    ip           text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Failed sign-ins, for rate limiting per address and per email across instances.
CREATE TABLE login_failures (
    key text NOT NULL,
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

CREATE TABLE departments (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    sort       integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE department_members (
    department_id bigint NOT NULL REFERENCES departments ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    PRIMARY KEY (department_id, user_id)
);
CREATE INDEX department_members_user ON department_members (user_id);

-- Presence: one row per operator per instance with open streams, refreshed by heartbeats,
-- so every instance sees who is online.
CREATE TABLE presence (
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    instance    text NOT NULL,
    connections integer NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, instance)
);

CREATE TABLE channels (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL,
    name             text NOT NULL,
    department_id    bigint REFERENCES departments ON DELETE SET NULL,
    enabled          boolean NOT NULL DEFAULT true,
    -- settings holds the non-secret settings; secrets (secret fields and the channel's own
    -- webhook secret) are AES-GCM encrypted JSON.
    settings         jsonb NOT NULL DEFAULT '{}',
    secrets          bytea,
    webhook_state    text NOT NULL DEFAULT 'none' CHECK (webhook_state IN ('none', 'set', 'error')),
    webhook_error    text NOT NULL DEFAULT '',
    last_activity_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);

CREATE TABLE clients (
    id          bigserial PRIMARY KEY,
    type        text NOT NULL DEFAULT 'client' CHECK (type IN ('client', 'contact')),
    name        text NOT NULL DEFAULT '',
    phones      text[] NOT NULL DEFAULT '{}', -- E.164
    emails      text[] NOT NULL DEFAULT '{}', -- lower case
    note        text NOT NULL DEFAULT '',
    custom      jsonb NOT NULL DEFAULT '{}',
    merged_into bigint REFERENCES clients ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clients_phones ON clients USING gin (phones);
CREATE INDEX clients_emails ON clients USING gin (emails);

CREATE TABLE files (
    id         bigserial PRIMARY KEY,
    key        text NOT NULL UNIQUE, -- blob storage key
    name       text NOT NULL DEFAULT '',
    mime       text NOT NULL DEFAULT 'application/octet-stream',
    size       bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE visitors (
    id             bigserial PRIMARY KEY,
    channel_id     bigint NOT NULL REFERENCES channels,
    external_id    text NOT NULL,
    chat_id        text NOT NULL DEFAULT '',
    first_name     text NOT NULL DEFAULT '',
    last_name      text NOT NULL DEFAULT '',
    username       text NOT NULL DEFAULT '',
    phone          text NOT NULL DEFAULT '',
    email          text NOT NULL DEFAULT '',
    language       text NOT NULL DEFAULT '',
    avatar_file_id bigint REFERENCES files ON DELETE SET NULL,
    info_loaded_at timestamptz,
    client_id      bigint REFERENCES clients ON DELETE SET NULL,
    unreachable    boolean NOT NULL DEFAULT false, -- blocked the bot / unsubscribed
    first_contact_sent boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, external_id)
);
CREATE INDEX visitors_client ON visitors (client_id);
CREATE INDEX visitors_phone ON visitors (phone) WHERE phone <> '';

CREATE TABLE dialogs (
    id                   bigserial PRIMARY KEY,
    channel_id           bigint NOT NULL REFERENCES channels,
    visitor_id           bigint NOT NULL REFERENCES visitors,
    department_id        bigint REFERENCES departments ON DELETE SET NULL,
    status               text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    assignee_id          bigint REFERENCES users ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    queued_at            timestamptz NOT NULL DEFAULT now(),
    closed_at            timestamptz,
    last_message_at      timestamptz NOT NULL DEFAULT now(),
    last_message_preview text NOT NULL DEFAULT '',
    -- activity that counts for auto-close: visitor or operator messages, not receipts.
    last_activity_at     timestamptz NOT NULL DEFAULT now(),
    unread               integer NOT NULL DEFAULT 0,
    offline_reply_sent   boolean NOT NULL DEFAULT false
);
-- A visitor has at most one open dialog: concurrent first messages converge on one.
CREATE UNIQUE INDEX dialogs_one_open ON dialogs (visitor_id) WHERE status = 'open';
CREATE INDEX dialogs_assignee_open ON dialogs (assignee_id, last_message_at DESC, id DESC) WHERE status = 'open';
CREATE INDEX dialogs_queue ON dialogs (queued_at, id) WHERE status = 'open' AND assignee_id IS NULL;
CREATE INDEX dialogs_list ON dialogs (status, last_message_at DESC, id DESC);
CREATE INDEX dialogs_visitor ON dialogs (visitor_id);
CREATE INDEX dialogs_idle ON dialogs (last_activity_at) WHERE status = 'open';

-- Colleagues invited into a dialog answer it too.
CREATE TABLE dialog_participants (
    dialog_id bigint NOT NULL REFERENCES dialogs ON DELETE CASCADE,
    user_id   bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dialog_id, user_id)
);
CREATE INDEX dialog_participants_user ON dialog_participants (user_id);

CREATE TABLE messages (
    id              bigserial PRIMARY KEY,
    dialog_id       bigint NOT NULL REFERENCES dialogs ON DELETE CASCADE,
    channel_id      bigint NOT NULL,
    -- in: from the visitor; out: to the visitor; system: history entries (assigned, closed…)
    direction       text NOT NULL CHECK (direction IN ('in', 'out', 'system')),
    -- kind: for in: message|button; for out: message|file; for system: what happened.
    kind            text NOT NULL DEFAULT 'message',
    author_id       bigint REFERENCES users ON DELETE SET NULL,
    auto            boolean NOT NULL DEFAULT false, -- sent by a base-logic rule
    external_id     text,
    text            text NOT NULL DEFAULT '',
    edits           jsonb NOT NULL DEFAULT '[]', -- previous texts of an edited message
    attachments     jsonb NOT NULL DEFAULT '[]',
    buttons         jsonb,
    reply_to        text NOT NULL DEFAULT '',
    -- delivery state of out messages: pending, sent, delivered, read, failed
    status          text NOT NULL DEFAULT 'received',
    error           text NOT NULL DEFAULT '',
    idempotency_key text,
    data            jsonb NOT NULL DEFAULT '{}', -- system entry details
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    edited_at       timestamptz,
    deleted_at      timestamptz
);
-- A platform's retry of the same message is stored once.
CREATE UNIQUE INDEX messages_external ON messages (channel_id, external_id);
CREATE UNIQUE INDEX messages_idempotency ON messages (dialog_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX messages_dialog ON messages (dialog_id, id);
CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', text)) WITH (fastupdate = off);

CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     bigint REFERENCES users ON DELETE SET NULL,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   bigint,
    details     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- One-time links an admin gives a new operator to choose their own password. Only the
-- SHA-256 of the token is stored; a link works once and until it expires.
CREATE TABLE invites (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX invites_user ON invites (user_id);
