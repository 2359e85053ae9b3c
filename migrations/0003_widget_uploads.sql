-- Files visitors uploaded through the web-site widget (the blob's key is the reference the
-- widget posts with its message). The download job reads an upload once and removes it;
-- housekeeping removes uploads that were never sent.
CREATE TABLE widget_uploads (
    ref        text PRIMARY KEY,
    channel_id bigint NOT NULL, -- no foreign key: the blob must be removed even if the channel row goes
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX widget_uploads_created ON widget_uploads (created_at);
