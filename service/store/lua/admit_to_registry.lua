-- Admit an id (a poll's, a thread's) to its registry unless the registry is full.
--
-- KEYS[1] the registry (sorted set)
-- ARGV[1] id   ARGV[2] now (epoch seconds)   ARGV[3] most ids allowed
--
-- Returns 1 when the id is (or already was) registered, 0 at the ceiling.
local registry, id = KEYS[1], ARGV[1]
if redis.call('ZSCORE', registry, id) then
  return 1
end
if redis.call('ZCARD', registry) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', registry, ARGV[2], id)
return 1
