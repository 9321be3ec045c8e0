-- Set or clear when a poll stops taking votes, only if the poll exists (a deleted poll
-- must not come back as a hash without a question).
--
-- KEYS[1] the poll's hash
-- ARGV[1] closes_at (epoch seconds), or "" for never
--
-- Returns 1 when the poll was changed, 0 when there is no such poll.
if redis.call('HEXISTS', KEYS[1], 'created_at') == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'closes_at', ARGV[1])
return 1
