-- Fleet ownership columns, kept on SQLite too so both stores hold the same rows.
-- SQLite has one owner (the process holding the lock): owner_instance stays NULL, epoch 0.
ALTER TABLE sessions ADD COLUMN owner_instance TEXT;
ALTER TABLE sessions ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
