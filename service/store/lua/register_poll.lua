-- Admit a poll id to the registry unless the ceiling on polls is reached.
--
-- KEYS[1] the poll registry (sorted set)
-- ARGV[1] poll id   ARGV[2] now (epoch seconds)   ARGV[3] most polls allowed
--
-- Returns 1 when the id is (or already was) registered, 0 at the ceiling.
local registry, poll_id = KEYS[1], ARGV[1]
if redis.call('ZSCORE', registry, poll_id) then
  return 1
end
if redis.call('ZCARD', registry) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', registry, ARGV[2], poll_id)
return 1
