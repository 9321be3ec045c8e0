-- Set or clear when a poll stops taking votes, only if the poll exists (a deleted poll
-- must not come back as a hash without a question). Closing it now leaves a poll that is
-- closed already as it was, so it is closed (and announced) once, at its first closing time.
--
-- KEYS[1] the poll's hash
-- ARGV[1] closes_at (epoch seconds), or "" for never
-- ARGV[2] when closing it now: now (epoch seconds), else ""
--
-- Returns 1 when the poll was changed, 2 when it was closed already (left as it was),
-- 0 when there is no such poll.
local poll = redis.call('HMGET', KEYS[1], 'created_at', 'closes_at')
if not poll[1] then
  return 0
end
if ARGV[2] ~= '' and poll[2] and poll[2] ~= '' and tonumber(poll[2]) <= tonumber(ARGV[2]) then
  return 2
end
redis.call('HSET', KEYS[1], 'closes_at', ARGV[1])
return 1
