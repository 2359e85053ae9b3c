-- Several instances on one database must share one secret key. key_check holds a known
-- text sealed with it, written by the first instance that starts; an instance whose key
-- cannot open it refuses to start instead of answering 500 to every webhook.
CREATE TABLE key_check (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id), -- one row at most
    sealed     bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Attachments kept in PostgreSQL itself (OMNICHAT_FILES=postgres), so every instance
-- reaches them. A blob is written with its chunks in one transaction: whole or absent.
CREATE TABLE blobs (
    key        text PRIMARY KEY,
    size       bigint NOT NULL,
    chunks     integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_chunks (
    key  text NOT NULL REFERENCES blobs ON DELETE CASCADE,
    n    integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (key, n)
);
-- Attachments are mostly compressed already (images, audio, video): keep chunks out of
-- line without trying to compress them again.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
