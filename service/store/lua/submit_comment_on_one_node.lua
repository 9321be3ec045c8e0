--!include ratelimit
--!include registry
--!include repeat_guard
--!include thread_comment
-- Take a reader's comment on a single Redis node, all in one step: find the comment it
-- repeats, count it against the client's limits, store it in its thread and index it
-- site-wide. Nothing can separate these, so no retry is counted twice (its Idempotency-Key
-- is reserved with the hit) and no comment is ever missing from the queue or the email
-- index. The keys span several slots, which a single node allows and Cluster does not.
--
-- KEYS[1] the new comment's hash          KEYS[2] the thread's comment counter
-- KEYS[3] status set the comment joins    KEYS[4] the thread's approved set (for replies)
-- KEYS[5] idempotency key of this client  KEYS[6] duplicate guard of this client and text
-- KEYS[7] the site-wide queue of the status   KEYS[8] the site-wide surge counter of the hour
-- KEYS[9] the same-text counter           KEYS[10] the email index (used when ARGV[11] ~= '')
-- KEYS[11] the thread registry (MAX_THREADS)
-- KEYS[12...] the client's rate-limit counters, one a limit (the last counts the hour)
-- ARGV[1] the new comment's key           ARGV[2] its status (pending or approved)
-- ARGV[3] now (epoch seconds)             ARGV[4] parent comment key, or ''
-- ARGV[5] idempotency TTL (s), 0 when the client sent no Idempotency-Key
-- ARGV[6] duplicate window (s)            ARGV[7] the comment's id (thread.key)
-- ARGV[8] its queue score (µs)            ARGV[9] surge counter TTL   ARGV[10] same-text TTL
-- ARGV[11] '1' when the comment has an email   ARGV[12] surge level (comments an hour)
-- ARGV[13] the thread id   ARGV[14] most threads (MAX_THREADS)
-- ARGV[15] how many limits, n; then for each limit: count, window (s), window start
-- ARGV[16 + 3n ...] the comment's fields, as name, value pairs
--
-- Returns {'created', key, remaining, reset} (the limit closest to refusing),
--      or {'existing', key of the comment this repeats},
--      or {'limited', index of the refusing limit, reset}, or {'bad_parent'},
--      or {'thread_limit'} when the thread is new and MAX_THREADS threads exist.
local comment, seq_key, status_set, approved = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local idem, duplicate = KEYS[5], KEYS[6]
local queue, surge, text_seen, email_index, threads = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local key, status, now, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local idem_ttl, duplicate_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local limit_count = tonumber(ARGV[15])
local limits = rate_limits_from(12, limit_count, 16)

local earlier = repeat_of(idem, idem_ttl, duplicate, duplicate_ttl, now)
if earlier then
  return {'existing', earlier}
end
local refused, refused_reset = rate_limits_refusal(limits, tonumber(now))
if refused then
  return {'limited', refused, refused_reset}
end
if parent_missing(approved, parent) then
  return {'bad_parent'}
end
if not admit(threads, ARGV[13], now, tonumber(ARGV[14])) then
  return {'thread_limit'}
end

local remaining, reset, hour_hits = rate_limits_hit(limits, tonumber(now))
local fields = argv_from(16 + 3 * limit_count)
fields[#fields + 1] = 'recent_from_ip'
fields[#fields + 1] = hour_hits
store_comment(comment, seq_key, status_set, idem, duplicate, key, status, now, idem_ttl, duplicate_ttl, fields)

redis.call('ZADD', queue, ARGV[8], ARGV[7])
local this_hour = redis.call('INCR', surge)
redis.call('EXPIRE', surge, ARGV[9])
redis.call('INCR', text_seen)
redis.call('EXPIRE', text_seen, ARGV[10])
if ARGV[11] == '1' then
  redis.call('SADD', email_index, ARGV[7])
end
if status == 'pending' and this_hour > tonumber(ARGV[12]) then
  redis.call('HSET', comment, 'surge', 1)
end
return {'created', key, remaining, reset}
