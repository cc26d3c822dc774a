-- What a dialect needs to resume a session after a restart (Janus: its session, handle
-- and participant ids) is its own opaque JSON, stored as given, instead of being read
-- back out of the SFU session id the API shows. Rows from before keep NULL here; the
-- dialect reads their shown id as it did.
ALTER TABLE sessions ADD COLUMN resume_state TEXT;
