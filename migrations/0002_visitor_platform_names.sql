-- What the platform last said a visitor is called (GetUserInfo: first_name, last_name,
-- username). A refresh replaces a stored name only while it is still the platform's: a
-- name typed into the widget's pre-chat form or corrected by hand stays.
ALTER TABLE visitors ADD COLUMN platform_names jsonb NOT NULL DEFAULT '{}';
