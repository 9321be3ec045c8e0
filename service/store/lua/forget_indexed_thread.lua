-- Drop a thread from the registry of threads with "to index" marks, unless a write marked
-- it after `cutoff` (a write records its thread here, scored by its time, before marking).
--
-- KEYS[1] the registry (sorted set: thread id -> time of its last marking write)
-- ARGV[1] thread id   ARGV[2] cutoff (epoch seconds)
--
-- Returns 1 when the thread was dropped.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
