-- Why a session ended is decided once, as a typed value, and stored as such. The code
-- of a failed first join (what an Idempotency-Key replay answers with) gets its own
-- column instead of being parsed back out of `end_reason` ("join_failed: <code>"),
-- which stays as the text the API shows. Rows written before this carry the code in
-- end_reason only; it is copied over once, here.
ALTER TABLE sessions ADD COLUMN join_failure_code TEXT;
UPDATE sessions SET join_failure_code = substr(end_reason, length('join_failed: ') + 1)
    WHERE state = 'failed' AND end_reason LIKE 'join_failed: %';
