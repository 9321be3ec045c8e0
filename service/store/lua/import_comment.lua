-- Store one comment brought from another system (a Disqus or WordPress export) with the
-- time, status and parent it had there, unless the same source comment was imported
-- before: the thread's "imported" hash maps each source id to the comment key it became,
-- so importing a file twice adds nothing. Only the thread's slot is touched; the caller
-- writes the site-wide indexes (queue, email index, thread registry) afterwards, which
-- are sets, so a rerun after a crash between the two steps completes them.
--
-- KEYS[1] the new comment's hash          KEYS[2] the thread's comment counter
-- KEYS[3] status set the comment joins    KEYS[4] the thread's "imported" hash
-- KEYS[5] the thread's meta hash (page_url)
-- ARGV[1] the new comment's key           ARGV[2] its status
-- ARGV[3] its creation time (epoch seconds)   ARGV[4] its source id
-- ARGV[5] the parent's source id, or ''   ARGV[6] the thread id
-- ARGV[7] the article URL, or ''
-- ARGV[8...] the comment's fields, as name, value pairs (parent_id is added here)
--
-- Returns {'created', key}, {'existing', key it became before},
--      or {'no_parent'} when the parent's source id was not imported (yet).
local comment, seq_key, status_set, imported, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local key, status, created_at, source_id, parent_source = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local earlier = redis.call('HGET', imported, source_id)
if earlier then
  return {'existing', earlier}
end
local parent_id = ''
if parent_source ~= '' then
  local parent_key = redis.call('HGET', imported, parent_source)
  if not parent_key then
    return {'no_parent'}
  end
  parent_id = ARGV[6] .. '.' .. parent_key
end

local seq = redis.call('INCR', seq_key)
local row = {'status', status, 'seq', seq, 'created_at', created_at, 'parent_id', parent_id}
for i = 8, #ARGV do
  row[#row + 1] = ARGV[i]
end
redis.call('HSET', comment, unpack(row))
redis.call('ZADD', status_set, seq, key)
redis.call('HSET', imported, source_id, key)
if ARGV[7] ~= '' then
  redis.call('HSETNX', meta, 'page_url', ARGV[7])
end
return {'created', key}
