--!include thread_decision
-- Apply one moderation decision on a single Redis node, all in one step: the comment, the
-- thread's status sets and log, the thread's shard of the site-wide queue and log, the
-- author's trust count and (for a delete) the email index. The keys span several slots,
-- which a single node allows.
--
-- KEYS[1] the comment's hash
-- KEYS[2..5] the thread's status sets: pending, approved, rejected, spam
-- KEYS[6] the thread's moderation log (stream)
-- KEYS[7..10] the thread's shard of the site-wide queues: pending, approved, rejected, spam
-- KEYS[11] the thread's shard of the site-wide moderation log (stream)
-- KEYS[12] the email index of the comment (its digest read before: ARGV[8])
-- KEYS[13] the trust count of that email digest (used when ARGV[9] is '1')
-- ARGV[1] comment key   ARGV[2] action: approve, reject, spam or delete
-- ARGV[3] the status the moderator saw ('' means pending, '*' any: privacy erasure)
-- ARGV[4] moderator name   ARGV[5] reason   ARGV[6] now (epoch seconds)
-- ARGV[7] the comment's id (thread.key)   ARGV[8] the email digest KEYS[12] belongs to, or ''
-- ARGV[9] '1' when decisions count toward trusted authors   ARGV[10] the trust count's TTL
-- ARGV[11] queue score below which decided comments leave the queues ('0': none leave)
-- ARGV[12] how long log entries are kept, in ms ('0': forever)
--
-- Returns what decide_in_thread returns; when the comment's email digest is not ARGV[8]
-- (the caller read it too early), the caller updates the email index and trust itself.
local sets = {pending = KEYS[2], approved = KEYS[3], rejected = KEYS[4], spam = KEYS[5]}
local queues = {pending = KEYS[7], approved = KEYS[8], rejected = KEYS[9], spam = KEYS[10]}
local key, action, moderator, reason, now, id = ARGV[1], ARGV[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local reply = decide_in_thread(KEYS[1], sets, KEYS[6], key, action, ARGV[3], moderator, reason, now, ARGV[12])
if reply[1] ~= 'decided' then
  return reply
end
local new_status, previous, created_at, email_digest = reply[2], reply[3], reply[4], reply[5]
local known_author = email_digest ~= '' and email_digest == ARGV[8]
redis.call('ZREM', queues[previous], id)
if new_status == 'deleted' then
  if known_author then
    redis.call('SREM', KEYS[12], id)
  end
else
  -- The queue's score is the submission time in microseconds, as queue_score() computes it.
  redis.call('ZADD', queues[new_status], math.floor(tonumber(created_at) * 1000000), id)
  if new_status ~= 'pending' and ARGV[11] ~= '0' then
    redis.call('ZREMRANGEBYSCORE', queues[new_status], '-inf', '(' .. ARGV[11])
  end
  if known_author and ARGV[9] == '1' then
    count_trust(KEYS[13], new_status, ARGV[10])
  end
end
log_decision(KEYS[11], ARGV[12], 'comment', id, 'action', action, 'from', previous,
             'moderator', moderator, 'reason', reason, 'at', now)
return reply
