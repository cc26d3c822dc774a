-- The writer proves the disk takes writes by committing a one-row probe when it has
-- been idle (EventLog's probe loop); /readyz reports the writer's health. Earlier
-- versions created this table outside the migrator, from the readiness check itself.
DROP TABLE IF EXISTS readiness;
CREATE TABLE readiness (at INTEGER NOT NULL);
