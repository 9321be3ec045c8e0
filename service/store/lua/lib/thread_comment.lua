-- Writing a comment into its thread, shared by the scripts that take comments
-- (scripts.py prepends this file where a script says `--!include thread_comment`).

-- True when a reply names a parent that is not an approved comment of the thread.
local function parent_missing(approved, parent)
  return parent ~= '' and not redis.call('ZSCORE', approved, parent)
end

-- Store a new comment: its hash (status, seq, created_at and `fields`, a flat list of
-- name, value pairs), its place in the thread's status set, and its repeat guards.
local function store_comment(comment, seq_key, status_set, idem, duplicate, key, status, now,
                             idem_ttl, duplicate_ttl, fields)
  local seq = redis.call('INCR', seq_key)
  local row = {'status', status, 'seq', seq, 'created_at', now}
  for _, value in ipairs(fields) do
    row[#row + 1] = value
  end
  redis.call('HSET', comment, unpack(row))
  redis.call('ZADD', status_set, seq, key)
  if idem_ttl > 0 then
    redis.call('SET', idem, key .. ' ' .. now, 'EX', idem_ttl)
  end
  redis.call('SET', duplicate, key .. ' ' .. now, 'EX', duplicate_ttl)
end

-- ARGV[first ...] as a list.
local function argv_from(first)
  local values = {}
  for i = first, #ARGV do
    values[#values + 1] = ARGV[i]
  end
  return values
end
