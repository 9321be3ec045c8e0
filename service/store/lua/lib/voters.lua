-- Where a poll's voter records live (store/voters.py holds the same arithmetic): the
-- poll's `voter_buckets` field counts its buckets, and buckets split one at a time as
-- voters arrive (linear hashing). A record's field is 7 bytes of the voter's digest; its
-- last 4 bytes, read as a number, choose the bucket. A poll without the field is in the
-- legacy layout of 16,384 fixed buckets, which never split.

-- The number the last 4 bytes of a record's field spell (big-endian).
local function voter_hash(field)
  local a, b, c, d = string.byte(field, -4, -1)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- The largest power of two not above `buckets`: the level's bucket count.
local function voter_level_size(buckets)
  local size = 1
  while size * 2 <= buckets do
    size = size * 2
  end
  return size
end

-- The bucket of a record whose field hashes to `hash`, in a poll of `buckets` buckets.
local function voter_bucket_of(hash, buckets)
  local size = voter_level_size(buckets)
  local bucket = hash % size
  if bucket < buckets - size then
    bucket = hash % (2 * size)
  end
  return bucket
end

-- Move the records of bucket `from` whose bucket is now `to` (a poll growing from
-- `buckets` to buckets + 1). Both are rewritten, so a bucket that had outgrown the
-- listpack encoding gets it back.
local function voter_split(from, to, buckets)
  local size = voter_level_size(buckets)
  local records = redis.call('HGETALL', from)
  local stay, move = {}, {}
  for i = 1, #records, 2 do
    local target = stay
    if math.floor(voter_hash(records[i]) / size) % 2 == 1 then
      target = move
    end
    target[#target + 1] = records[i]
    target[#target + 1] = records[i + 1]
  end
  redis.call('DEL', from)
  for _, pair in ipairs({{from, stay}, {to, move}}) do
    local key, fields = pair[1], pair[2]
    for start = 1, #fields, 1000 do
      redis.call('HSET', key, unpack(fields, start, math.min(start + 999, #fields)))
    end
  end
end
