-- Apply one moderation decision to one comment: its status, its place in the thread's
-- status sets and the thread's log line change together. The first decision wins: a
-- comment is decided only from the status the moderator saw.
--
-- KEYS[1] the comment's hash
-- KEYS[2..5] the thread's status sets: pending, approved, rejected, spam
-- KEYS[6] the thread's moderation log (stream)
-- ARGV[1] comment key   ARGV[2] action: approve, reject, spam or delete
-- ARGV[3] the status the moderator saw ('' means pending, '*' any: privacy erasure)
-- ARGV[4] moderator name   ARGV[5] reason   ARGV[6] now (epoch seconds)
--
-- Returns {'decided', new status, old status, created_at, email digest, log entry id}
--      or {'not_found'} | {'conflict', status, decided_by, decided_at, reason}
local comment, log = KEYS[1], KEYS[6]
local key, action, seen = ARGV[1], ARGV[2], ARGV[3]
local moderator, reason, now = ARGV[4], ARGV[5], ARGV[6]
local sets = {pending = KEYS[2], approved = KEYS[3], rejected = KEYS[4], spam = KEYS[5]}
local outcome = {approve = 'approved', reject = 'rejected', spam = 'spam', delete = 'deleted'}

local current = redis.call('HMGET', comment, 'status', 'decided_by', 'decided_at', 'reason',
                           'seq', 'created_at', 'email_digest')
local status = current[1]
if not status then
  return {'not_found'}
end
if seen == '' then
  seen = 'pending'
elseif seen == '*' then
  seen = status
end
local new_status = outcome[action]
if status ~= seen or status == new_status then
  return {'conflict', status, current[2] or '', current[3] or '', current[4] or ''}
end

redis.call('ZREM', sets[status], key)
if new_status == 'deleted' then
  redis.call('DEL', comment)
else
  redis.call('HSET', comment, 'status', new_status, 'decided_by', moderator, 'decided_at', now,
             'reason', reason)
  redis.call('ZADD', sets[new_status], current[5], key)
end
local entry = redis.call('XADD', log, '*', 'comment', key, 'action', action, 'from', status,
                         'moderator', moderator, 'reason', reason, 'at', now)
return {'decided', new_status, status, current[6], current[7] or '', entry}
