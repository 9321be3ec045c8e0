-- A reader edits their own comment: the keyed hash of their edit token must match the one
-- stored with the comment, and the edit window must still be open. A published comment
-- goes back to the queue when pre-moderation is on. On a single Redis node the site-wide
-- queues move in this script too; on Redis Cluster the comment is marked "to index" and
-- the caller re-indexes it from the thread (as after a submission).
--
-- KEYS[1] the comment's hash   KEYS[2] the thread's pending set   KEYS[3] its approved set
-- KEYS[4] one node: the site-wide pending queue; Cluster: the thread's "to index" hash
-- KEYS[5] one node only: the site-wide approved queue
-- ARGV[1] comment key   ARGV[2] keyed hash of the token sent   ARGV[3] now (epoch seconds)
-- ARGV[4] the edit window (s)   ARGV[5] the new body   ARGV[6] its text digest
-- ARGV[7] its link count   ARGV[8] 'pending' when a published edit waits for a moderator, else ''
-- ARGV[9] 'one_node' or 'cluster'   ARGV[10] the comment's id (thread.key)
--
-- Returns {'edited', status now, status before, email digest}
--      or {'not_found'} | {'forbidden'} | {'closed'} (the window has passed)
local comment, pending, approved = KEYS[1], KEYS[2], KEYS[3]
local key, digest, now, window = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local current = redis.call('HMGET', comment, 'status', 'edit_digest', 'created_at', 'seq', 'email_digest')
local status = current[1]
if not status then
  return {'not_found'}
end
if not current[2] or current[2] == '' or current[2] ~= digest then
  return {'forbidden'}
end
local created_at = tonumber(current[3])
if now > created_at + window then
  return {'closed'}
end
redis.call('HSET', comment, 'body', ARGV[5], 'text_digest', ARGV[6], 'links', ARGV[7], 'edited_at', ARGV[3])
local new_status = status
if status == 'approved' and ARGV[8] == 'pending' then
  new_status = 'pending'
  redis.call('HSET', comment, 'status', 'pending')
  redis.call('ZREM', approved, key)
  redis.call('ZADD', pending, current[4], key)
  if ARGV[9] == 'one_node' then
    redis.call('ZREM', KEYS[5], ARGV[10])
    -- The queue's score is the submission time in microseconds, as queue_score() computes it.
    redis.call('ZADD', KEYS[4], math.floor(created_at * 1000000), ARGV[10])
  else
    redis.call('HSET', KEYS[4], key, ARGV[3] .. ' ' .. (current[5] or ''))
  end
end
return {'edited', new_status, status, current[5] or ''}
