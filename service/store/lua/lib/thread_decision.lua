-- Applying a moderation decision inside its thread, shared by the scripts that decide
-- (scripts.py prepends this file where a script says `--!include thread_decision`).
-- The first decision wins: a comment is decided only from the status the moderator saw.

local OUTCOME = {approve = 'approved', reject = 'rejected', spam = 'spam', delete = 'deleted'}

-- Append a decision to a log stream, dropping entries older than `retention_ms` by the
-- server's clock, which stamps the entry ids ('0': keep all). Exact trimming: each entry
-- is dropped once, so it costs about one entry's removal a decision in the steady state.
local function log_decision(log, retention_ms, ...)
  if retention_ms == '0' then
    return redis.call('XADD', log, '*', ...)
  end
  local clock = redis.call('TIME')
  local min_id = string.format('%.0f-0', tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
                                             - tonumber(retention_ms))
  return redis.call('XADD', log, 'MINID', min_id, '*', ...)
end

-- Count a decision toward its author's trust (approvals in a row): an approval adds one
-- (the count lives `ttl` seconds from then), anything else starts again from zero.
local function count_trust(trust, new_status, ttl)
  if new_status == 'approved' then
    redis.call('INCR', trust)
    redis.call('EXPIRE', trust, ttl)
  else
    redis.call('DEL', trust)
  end
end

-- Decide one comment: its status, its place in the thread's status sets (`sets` by
-- status) and the thread's log line change together. `seen` '' means pending, '*' any.
-- Log entries older than `log_retention_ms` are dropped as it is written ('0' keeps all).
-- Returns {'decided', new status, old status, created_at, email digest, log entry id}
--      or {'not_found'} | {'conflict', status, decided_by, decided_at, reason}
local function decide_in_thread(comment, sets, log, key, action, seen, moderator, reason, now, log_retention_ms)
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
  local new_status = OUTCOME[action]
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
  local entry = log_decision(log, log_retention_ms, 'comment', key, 'action', action, 'from', status,
                             'moderator', moderator, 'reason', reason, 'at', now)
  return {'decided', new_status, status, current[6], current[7] or '', entry}
end
