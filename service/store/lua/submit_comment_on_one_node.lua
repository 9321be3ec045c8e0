--!include ratelimit
--!include repeat_guard
--!include settle
--!include thread_comment
-- Take a reader's comment on a single Redis node, all in one step: check the process
-- screened it with the current blocklist and bans, find the comment it repeats, count it
-- against the client's limits (and, on a new thread, against the threads the client may
-- start a day), settle its status (surge hold, trusted author), store it in its thread and
-- index it site-wide. Nothing can separate these, so no retry is counted twice (its
-- Idempotency-Key is reserved with the hit) and no comment is ever missing from the queue
-- or the email index. The keys span several slots, which a single node allows and Cluster
-- does not.
--
-- KEYS[1] the new comment's hash          KEYS[2] the thread's comment counter
-- KEYS[3..6] the thread's status sets: pending, approved, rejected, spam
-- KEYS[7] idempotency key of this client  KEYS[8] duplicate guard of this client and text
-- KEYS[9..12] the thread's shard of the site-wide queues: pending, approved, rejected, spam
-- KEYS[13] the same-text counter          KEYS[14] the email index (used when ARGV[11] ~= '')
-- KEYS[15] the thread's registry shard    KEYS[16] the client's new-threads counter of the day
-- KEYS[17] the blocklist and bans version KEYS[18] the author's trust count (approvals in a row)
-- KEYS[19] the webhook endpoints (hash; only counted, so the caller reads them only when any exist)
-- KEYS[20] the thread's meta hash (its article's page_url, set by its first comment naming one)
-- KEYS[21 ... 20 + s] the hour's surge counter shards, the thread's own first
-- KEYS[21 + s ...] the client's rate-limit counters, one a limit (the last counts the hour)
-- ARGV[1] the new comment's key           ARGV[2] the status screening gave it
-- ARGV[3] now (epoch seconds)             ARGV[4] parent comment key, or ''
-- ARGV[5] idempotency TTL (s), 0 when the client sent no Idempotency-Key
-- ARGV[6] duplicate window (s)            ARGV[7] the comment's id (thread.key)
-- ARGV[8] its queue score (µs)            ARGV[9] surge counter TTL   ARGV[10] same-text TTL
-- ARGV[11] '1' when the comment has an email   ARGV[12] surge level (comments an hour)
-- ARGV[13] the thread id
-- ARGV[14] new threads a client may start a day (0: no limit), ARGV[15] its window (s),
-- ARGV[16] the window's start
-- ARGV[17] the blocklist and bans version screened with ('' when none was ever set, '*': any)
-- ARGV[18] '1' when the surge hold and trust settle the status ('' when a spam tool decided)
-- ARGV[19] approvals in a row that publish an author's comments (0: off)
-- ARGV[20] the tools' held reason, or ''   ARGV[21] the article's URL, or ''
-- ARGV[22] how many surge shards, s
-- ARGV[23] how many limits, n; then for each limit: count, window (s), window start
-- ARGV[24 + 3n ...] the comment's fields, as name, value pairs
--
-- Returns {'created', key, remaining, reset, status, held reason, comments this hour
--      site-wide, webhook endpoints} (remaining and reset of the limit closest to refusing), or {'existing', key of the comment this repeats},
--      or {'limited', index of the refusing limit, reset}, or {'bad_parent'},
--      or {'thread_limit', reset} when the client started its new threads of the day,
--      or {'stale'} when the blocklist or bans changed since the process loaded them.
local comment, seq_key = KEYS[1], KEYS[2]
local sets = {pending = KEYS[3], approved = KEYS[4], rejected = KEYS[5], spam = KEYS[6]}
local idem, duplicate = KEYS[7], KEYS[8]
local queues = {pending = KEYS[9], approved = KEYS[10], rejected = KEYS[11], spam = KEYS[12]}
local text_seen, email_index, registry, new_threads = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local key, status, now, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local idem_ttl, duplicate_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local surge_shards, limit_count = tonumber(ARGV[22]), tonumber(ARGV[23])
local limits = rate_limits_from(21 + surge_shards, limit_count, 24)

if ARGV[17] ~= '*' and (redis.call('GET', KEYS[17]) or '') ~= ARGV[17] then
  return {'stale'}
end
local earlier = repeat_of(idem, idem_ttl, duplicate, duplicate_ttl, now)
if earlier then
  return {'existing', earlier}
end
local refused, refused_reset = rate_limits_refusal(limits, tonumber(now))
if refused then
  return {'limited', refused, refused_reset}
end
if parent_missing(sets.approved, parent) then
  return {'bad_parent'}
end
local new_thread = not redis.call('ZSCORE', registry, ARGV[13])
local thread_limit = {new_threads, tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])}
if new_thread and thread_limit[2] > 0 and rate_limit_full(new_threads, thread_limit[2]) then
  return {'thread_limit', rate_limit_reset(thread_limit[3], thread_limit[4], tonumber(now))}
end

local surge = 1
for i = 21, 20 + surge_shards do
  surge = surge + tonumber(redis.call('GET', KEYS[i]) or '0')
end
local trusted_after = tonumber(ARGV[19])
local approvals = trusted_after > 0 and tonumber(redis.call('GET', KEYS[18]) or '0') or 0
local held_reason
status, held_reason = settled_status(status, ARGV[20], ARGV[18] == '1', surge, tonumber(ARGV[12]),
                                     approvals, trusted_after)

if new_thread then
  redis.call('ZADD', registry, now, ARGV[13])
  if thread_limit[2] > 0 then
    rate_limit_hit(new_threads, thread_limit[2], thread_limit[3], thread_limit[4], tonumber(now))
  end
end
local remaining, reset, hour_hits = rate_limits_hit(limits, tonumber(now))
local fields = argv_from(24 + 3 * limit_count)
fields[#fields + 1] = 'recent_from_ip'
fields[#fields + 1] = hour_hits
if held_reason ~= '' then
  fields[#fields + 1] = 'held_reason'
  fields[#fields + 1] = held_reason
end
if status == 'pending' and surge > tonumber(ARGV[12]) then
  fields[#fields + 1] = 'surge'
  fields[#fields + 1] = 1
end
store_comment(comment, seq_key, sets[status], idem, duplicate, key, status, now, idem_ttl, duplicate_ttl, fields)

redis.call('ZADD', queues[status], ARGV[8], ARGV[7])
redis.call('INCR', KEYS[21])
redis.call('EXPIRE', KEYS[21], ARGV[9])
if ARGV[21] ~= '' then
  redis.call('HSETNX', KEYS[20], 'page_url', ARGV[21])
end
redis.call('INCR', text_seen)
redis.call('EXPIRE', text_seen, ARGV[10])
if ARGV[11] == '1' then
  redis.call('SADD', email_index, ARGV[7])
end
return {'created', key, remaining, reset, status, held_reason, surge, redis.call('HLEN', KEYS[19])}
