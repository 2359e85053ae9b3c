-- Bytes visitors uploaded through the widget in one fixed window, per client address and per
-- channel: the budget every instance draws on (dialog.Service.StoreUpload). Rows of past
-- windows are removed by the upload pruning job.
CREATE TABLE upload_budgets (
    scope        text NOT NULL, -- 'address' or 'channel'
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    bytes        bigint NOT NULL,
    PRIMARY KEY (scope, key, window_start)
);
CREATE INDEX upload_budgets_window ON upload_budgets (window_start);
