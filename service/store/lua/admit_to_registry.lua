--!include registry
-- Admit an id (a poll's, a thread's) to its registry unless the registry is full.
--
-- KEYS[1] the registry (sorted set)
-- ARGV[1] id   ARGV[2] now (epoch seconds)   ARGV[3] most ids allowed
--
-- Returns 1 when the id is (or already was) registered, 0 at the ceiling.
return admit(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])) and 1 or 0
