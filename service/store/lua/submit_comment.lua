--!include repeat_guard
--!include thread_comment
-- Store a new comment in its thread, unless it repeats one already stored: the first of
-- two steps on Redis Cluster, where the site-wide indexes live in other slots.
--
-- KEYS[1] the new comment's hash          KEYS[2] the thread's comment counter
-- KEYS[3] status set the comment joins    KEYS[4] the thread's approved set (for replies)
-- KEYS[5] idempotency key of this client  KEYS[6] duplicate guard of this client and text
-- KEYS[7] the thread's "to index" marker (hash: comment key -> "<now> <email digest>")
-- KEYS[8] the thread's meta hash (its article's page_url, set by its first comment naming one)
-- ARGV[1] the new comment's key           ARGV[2] its status (pending or approved)
-- ARGV[3] now (epoch seconds)             ARGV[4] parent comment key, or ''
-- ARGV[5] idempotency TTL (s), 0 when the client sent no Idempotency-Key
-- ARGV[6] duplicate window (s)            ARGV[7] the comment's email digest, or ''
-- ARGV[8] the article's URL, or ''
-- ARGV[9...] the comment's fields, as name, value pairs
--
-- Returns {'created', key}, or {'existing', key of the comment this repeats, 1 when it is
-- still marked "to index" else 0}, or {'bad_parent'} when the parent is not an approved
-- comment of the thread.
local comment, seq_key, status_set, approved = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local idem, duplicate, marker = KEYS[5], KEYS[6], KEYS[7]
local key, status, now, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local idem_ttl, duplicate_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])

local earlier = repeat_of(idem, idem_ttl, duplicate, duplicate_ttl, now)
if earlier then
  return {'existing', earlier, redis.call('HEXISTS', marker, earlier)}
end
if parent_missing(approved, parent) then
  return {'bad_parent'}
end
store_comment(comment, seq_key, status_set, idem, duplicate, key, status, now, idem_ttl, duplicate_ttl, argv_from(9))
redis.call('HSET', marker, key, now .. ' ' .. ARGV[7])
if ARGV[8] ~= '' then
  redis.call('HSETNX', KEYS[8], 'page_url', ARGV[8])
end
return {'created', key}
