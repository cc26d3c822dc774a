-- Event times are stored as they happened, so a backward clock step (NTP, a VM that
-- booted before NTP) would break the rule that time never goes backwards in id order.
-- Instead each backward jump starts a new segment at the id of its first event; within
-- a segment the rule holds, so a time bound is still a binary search over ids, done
-- once per segment (jumps are rare: a handful of rows). Everything stored before this
-- migration is one segment.
CREATE TABLE clock_segments (first_id INTEGER PRIMARY KEY);
