--!include thread_decision
-- Apply one moderation decision on a single Redis node, all in one step: the comment, the
-- thread's status sets and log, the site-wide queue, the site-wide log and (for a delete)
-- the email index. The keys span several slots, which a single node allows.
--
-- KEYS[1] the comment's hash
-- KEYS[2..5] the thread's status sets: pending, approved, rejected, spam
-- KEYS[6] the thread's moderation log (stream)
-- KEYS[7..10] the site-wide queues: pending, approved, rejected, spam
-- KEYS[11] the site-wide moderation log (stream)
-- KEYS[12] the email index of the comment (its digest read before: ARGV[8])
-- ARGV[1] comment key   ARGV[2] action: approve, reject, spam or delete
-- ARGV[3] the status the moderator saw ('' means pending, '*' any: privacy erasure)
-- ARGV[4] moderator name   ARGV[5] reason   ARGV[6] now (epoch seconds)
-- ARGV[7] the comment's id (thread.key)   ARGV[8] the email digest KEYS[12] belongs to, or ''
--
-- Returns what decide_in_thread returns; when a deleted comment's email digest is not
-- ARGV[8] (the caller read it too early), the caller removes the email entry itself.
local sets = {pending = KEYS[2], approved = KEYS[3], rejected = KEYS[4], spam = KEYS[5]}
local queues = {pending = KEYS[7], approved = KEYS[8], rejected = KEYS[9], spam = KEYS[10]}
local key, action, moderator, reason, now, id = ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local reply = decide_in_thread(KEYS[1], sets, KEYS[6], key, action, ARGV[3], moderator, reason, now)
if reply[1] ~= 'decided' then
  return reply
end
local new_status, previous, created_at, email_digest = reply[2], reply[3], reply[4], reply[5]
redis.call('ZREM', queues[previous], id)
if new_status == 'deleted' then
  if email_digest ~= '' and email_digest == ARGV[8] then
    redis.call('SREM', KEYS[12], id)
  end
else
  -- The queue's score is the submission time in microseconds, as queue_score() computes it.
  redis.call('ZADD', queues[new_status], math.floor(tonumber(created_at) * 1000000), id)
end
redis.call('XADD', KEYS[11], '*', 'comment', id, 'action', action, 'from', previous,
           'moderator', moderator, 'reason', reason, 'at', now)
return reply
