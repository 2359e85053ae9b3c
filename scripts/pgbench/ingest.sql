-- One ingest transaction (one message), the simple path: pgbench -f ingest.sql
\set user random(1, 200)
\set msg random(1, 2000000000)
BEGIN;
SELECT 1 FROM bench_messages WHERE channel_id = 1 AND external_id = :msg::text;
INSERT INTO bench_visitors (channel_id, external_id, first_name) VALUES (1, 'u' || :user, 'Load')
    ON CONFLICT (channel_id, external_id) DO UPDATE SET first_name = EXCLUDED.first_name, updated_at = now()
    RETURNING id \gset v_
INSERT INTO bench_dialogs (visitor_id) VALUES (:v_id) ON CONFLICT (visitor_id) DO NOTHING;
INSERT INTO bench_messages (dialog_id, channel_id, external_id, text)
    SELECT id, 1, :msg::text || '-' || :client_id::text || '-' || nextval('bench_messages_id_seq'), 'load test message' FROM bench_dialogs WHERE visitor_id = :v_id
    ON CONFLICT (channel_id, external_id) DO NOTHING;
UPDATE bench_dialogs SET last_message = 'load test message', last_message_at = now(), unread = unread + 1 WHERE visitor_id = :v_id;
INSERT INTO bench_jobs (kind, args) VALUES ('assign', jsonb_build_object('visitor_id', :v_id::bigint));
SELECT pg_notify('omnichat', '{"k":"message.created","d":' || :v_id::text || '}');
COMMIT;
