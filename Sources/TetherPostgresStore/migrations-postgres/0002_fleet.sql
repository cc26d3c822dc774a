-- A fleet of instances sharing this database (issue 23).
-- Leases are judged on this database's clock: expires_at = now() + ttl.
CREATE TABLE instances (
    id TEXT PRIMARY KEY,                     -- --instance-id, or generated
    incarnation BIGINT NOT NULL,             -- bumped at every (re)registration: an old lease stays void
    address TEXT NOT NULL,                   -- where its API listens
    state TEXT NOT NULL,                     -- serving | draining | left | dead (fenced is shown from the lease)
    started_at TIMESTAMPTZ NOT NULL,
    capacity BIGINT NOT NULL,                -- --max-sessions
    sessions BIGINT NOT NULL DEFAULT 0,      -- its load at its last renewal
    expires_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL
);

-- owner_instance NULL on a live session: released, waiting for a claim.
ALTER TABLE sessions ADD COLUMN owner_instance TEXT;
ALTER TABLE sessions ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
-- Who released it last, and why (dead | handover | rejoined): the claimer records it.
ALTER TABLE sessions ADD COLUMN released_from TEXT;
ALTER TABLE sessions ADD COLUMN release_kind TEXT;
CREATE INDEX sessions_unowned ON sessions(seq) WHERE owner_instance IS NULL AND state NOT IN ('left', 'failed', 'ended');
CREATE INDEX sessions_owner ON sessions(owner_instance) WHERE owner_instance IS NOT NULL AND state NOT IN ('left', 'failed', 'ended');

-- Requests for a session another instance owns: the owner executes them and answers here.
CREATE TABLE session_commands (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL,
    owner_instance TEXT NOT NULL,
    kind TEXT NOT NULL,                      -- delete | migrate | credentials
    body TEXT NOT NULL,                      -- JSON: the request's arguments
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | done | failed
    result TEXT,                             -- JSON: the answer (an error code and message when failed)
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX session_commands_pending ON session_commands(owner_instance, id) WHERE status = 'pending';

-- A webhook try picked by one instance: the others leave the row alone until this
-- passes (on this database's clock) or the try is settled.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until TIMESTAMPTZ;
