-- An SFU token is needed only while its session lives (to rejoin after a restart).
-- From now on the token is blanked when a session reaches a terminal state; this
-- clears the ones earlier versions kept for sessions that had already ended.
UPDATE sessions SET sfu_token = '' WHERE state IN ('left', 'failed', 'ended');
