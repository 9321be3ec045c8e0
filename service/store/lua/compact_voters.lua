--!include voters
-- Rewrite a legacy poll's voter records (16,384 fixed buckets, 6-byte fields) into the
-- layout of lib/voters.lua in one step, so that no vote falls between the two layouts.
-- A legacy bucket's number holds the low 6 bits of the digest's first byte and all of its
-- second; the second byte is what a record's field gains.
--
-- KEYS[1] the poll's hash   KEYS[2] .. KEYS[16385] its legacy buckets 0 .. 16383, in order
-- KEYS[16386] ... buckets 0, 1, ... of the new layout: as many as the caller expects to fill
-- ARGV[1] voters a bucket holds on average (VOTERS_PER_BUCKET)
--
-- Returns {'ok', voters, buckets} | {'not_found'} | {'not_legacy'}
--      or {'more_buckets', voters} when fewer new buckets were passed than the voters need
local poll, legacy_buckets = KEYS[1], 16384
if redis.call('EXISTS', poll) == 0 then
  return {'not_found'}
end
if redis.call('HEXISTS', poll, 'voter_buckets') == 1 then
  return {'not_legacy'}
end

local records = {}
for bucket = 0, legacy_buckets - 1 do
  local prefix = string.char(bucket % 256)
  local stored = redis.call('HGETALL', KEYS[2 + bucket])
  for i = 1, #stored, 2 do
    records[#records + 1] = prefix .. stored[i]
    records[#records + 1] = stored[i + 1]
  end
end
local voters = #records / 2
local buckets = math.max(1, math.ceil(voters / tonumber(ARGV[1])))
if buckets > #KEYS - 1 - legacy_buckets then
  return {'more_buckets', voters}
end

local placed = {}
for i = 1, #records, 2 do
  local bucket = voter_bucket_of(voter_hash(records[i]), buckets)
  local fields = placed[bucket] or {}
  fields[#fields + 1] = records[i]
  fields[#fields + 1] = records[i + 1]
  placed[bucket] = fields
end
for start = 2, 1 + legacy_buckets, 1000 do
  redis.call('UNLINK', unpack(KEYS, start, math.min(start + 999, 1 + legacy_buckets)))
end
for bucket, fields in pairs(placed) do
  for start = 1, #fields, 1000 do
    redis.call('HSET', KEYS[2 + legacy_buckets + bucket], unpack(fields, start, math.min(start + 999, #fields)))
  end
end
redis.call('HSET', poll, 'voter_buckets', buckets)
return {'ok', voters, buckets}
