--!include repeat_guard
-- Store a new comment in its thread, unless it repeats one already stored.
--
-- KEYS[1] the new comment's hash          KEYS[2] the thread's comment counter
-- KEYS[3] status set the comment joins    KEYS[4] the thread's approved set (for replies)
-- KEYS[5] idempotency key of this client  KEYS[6] duplicate guard of this client and text
-- ARGV[1] the new comment's key           ARGV[2] its status (pending or approved)
-- ARGV[3] now (epoch seconds)             ARGV[4] parent comment key, or ''
-- ARGV[5] idempotency TTL (s), 0 when the client sent no Idempotency-Key
-- ARGV[6] duplicate window (s)
-- ARGV[7...] the comment's fields, as name, value pairs
--
-- Returns {'created', key} or {'existing', key of the comment this repeats},
-- or {'bad_parent'} when the parent is not an approved comment of the thread.
local comment, seq_key, status_set, approved = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local idem, duplicate = KEYS[5], KEYS[6]
local key, status, now, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local idem_ttl, duplicate_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])

local earlier = repeat_of(idem, idem_ttl, duplicate, duplicate_ttl, now)
if earlier then
  return {'existing', earlier}
end

if parent ~= '' and not redis.call('ZSCORE', approved, parent) then
  return {'bad_parent'}
end

local seq = redis.call('INCR', seq_key)
local fields = {'status', status, 'seq', seq, 'created_at', now}
for i = 7, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', comment, unpack(fields))
redis.call('ZADD', status_set, seq, key)
if idem_ttl > 0 then
  redis.call('SET', idem, key .. ' ' .. now, 'EX', idem_ttl)
end
redis.call('SET', duplicate, key .. ' ' .. now, 'EX', duplicate_ttl)
return {'created', key}
