--!include thread_decision
-- Apply one moderation decision to one comment inside its thread: the first of two steps
-- on Redis Cluster, where the site-wide queue and log live in other slots. The comment is
-- marked "to index" with it, so a crash before the second step is repaired later.
--
-- KEYS[1] the comment's hash
-- KEYS[2..5] the thread's status sets: pending, approved, rejected, spam
-- KEYS[6] the thread's moderation log (stream)
-- KEYS[7] the thread's "to index" marker (hash: comment key -> "<now> <email digest>")
-- ARGV[1] comment key   ARGV[2] action: approve, reject, spam or delete
-- ARGV[3] the status the moderator saw ('' means pending, '*' any: privacy erasure)
-- ARGV[4] moderator name   ARGV[5] reason   ARGV[6] now (epoch seconds)
-- ARGV[7] how long the thread's log keeps entries, in ms ('0': forever)
--
-- Returns {'decided', new status, old status, created_at, email digest, log entry id}
--      or {'not_found'} | {'conflict', status, decided_by, decided_at, reason}
local sets = {pending = KEYS[2], approved = KEYS[3], rejected = KEYS[4], spam = KEYS[5]}
local reply = decide_in_thread(KEYS[1], sets, KEYS[6], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
if reply[1] == 'decided' then
  redis.call('HSET', KEYS[7], ARGV[1], ARGV[6] .. ' ' .. reply[5])
end
return reply
