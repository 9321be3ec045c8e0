-- Create or update a poll's settings, keeping its tally and its voters.
--
-- KEYS[1] the poll's hash
-- ARGV[1] question   ARGV[2] closes_at (epoch seconds) or ""   ARGV[3] allow_change: 1 or 0
-- ARGV[4] now (epoch seconds)
--
-- A new poll starts with one voter bucket (lib/voters.lua). A poll that exists keeps its
-- layout: one without `voter_buckets` holds its voters in the legacy buckets.
--
-- Returns {created: 1 or 0, question, closes_at, allow_change, created_at, yay, nay, version}
local poll = KEYS[1]
local created = redis.call('HSETNX', poll, 'created_at', ARGV[4])
if created == 1 then
  redis.call('HSET', poll, 'voter_buckets', 1)
end
redis.call('HSET', poll, 'question', ARGV[1], 'closes_at', ARGV[2], 'allow_change', ARGV[3])
redis.call('HSETNX', poll, 'yay', 0)
redis.call('HSETNX', poll, 'nay', 0)
local fields = redis.call('HMGET', poll, 'question', 'closes_at', 'allow_change', 'created_at', 'yay', 'nay', 'version')
table.insert(fields, 1, created)
return fields
