--!include ratelimit
--!include voters
-- Cast, repeat or change one voter's vote, with its rate limits, in one step.
--
-- KEYS[1] poll hash (settings and tally)      KEYS[2] the voter's bucket
-- KEYS[3] vote rate counter of this client IP  KEYS[4] new-voter counter of this IP today
-- ARGV[1] voter field (binary digest slice)    ARGV[2] choice: 1 yay, 2 nay
-- ARGV[3] now (epoch seconds)                  ARGV[4] rate limit count
-- ARGV[5] rate window (s)                      ARGV[6] rate window start (epoch s)
-- ARGV[7] new voters allowed per IP per day    ARGV[8] seconds until the day ends
-- ARGV[9] 1 to create the poll when missing (already admitted by the registry)
-- ARGV[10] the poll's shard channel (in KEYS[1]'s slot)   ARGV[11] the poll id
-- ARGV[12] seconds a new-voter counter lives (its day, and slack for clocks)
-- KEYS[5] the poll's vote-integrity hash of the hour   KEYS[6] its busiest-IP set of the hour
-- ARGV[13] the client's IP digest   ARGV[14] the minute (epoch minutes)
-- ARGV[15] seconds the integrity keys live   ARGV[16] busiest IPs kept when the set is cut
-- KEYS[7], KEYS[8] the bucket to split next and its new buddy, in the layout the caller assumed
-- ARGV[17] the layout the caller assumed: the poll's bucket count, or 0 for the legacy layout
-- ARGV[18] the bucket number of KEYS[2]   ARGV[19] voters a bucket holds on average before a split
--
-- New votes, changes and new voters refused by the per-IP ceiling are counted in the
-- integrity keys here, so the figures cost no round trip of their own.
--
-- A change bumps the poll's tally version and publishes "<poll id> <version> <yay> <nay>"
-- on the poll's shard channel (SPUBLISH: only the shard owning the poll hears it).
--
-- Voter records follow lib/voters.lua. The caller names the voter's bucket from the layout
-- it last saw; when the poll has split since and the voter's bucket is another, nothing is
-- done and the answer is {'moved', layout}. A new voter that takes the poll past
-- ARGV[19] voters a bucket splits one bucket, when the caller's layout was current.
--
-- Returns {'ok', yay, nay, previous choice or 0, remaining, reset, version, layout, created}
--      or {'moved', layout, created}
-- where created is 1 when this call created the poll (the caller announces poll.created), else 0
--      or {'not_found'} | {'closed'} | {'change_not_allowed', current choice}
--      or {'rate_limited', retry_after} | {'too_many_voters', retry_after}
local poll, bucket, rate_key, new_voters_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local field, choice, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

-- The integrity keys' lifetimes are set with the first count of each minute (and with
-- every refusal, which counts no minute), and the IP set is measured only when it gains
-- a member: three commands fewer on most votes.
local function witness(counter)
  local integrity, ips, ttl, kept = KEYS[5], KEYS[6], tonumber(ARGV[15]), tonumber(ARGV[16])
  local first_this_minute = true
  if counter ~= 'refused' then
    first_this_minute = redis.call('HINCRBY', integrity, 'm' .. ARGV[14], 1) == 1
  end
  redis.call('HINCRBY', integrity, counter, 1)
  if tonumber(redis.call('ZINCRBY', ips, 1, ARGV[13])) == 1 and redis.call('ZCARD', ips) > 2 * kept then
    redis.call('ZREMRANGEBYRANK', ips, 0, -(kept + 1))
  end
  if first_this_minute then
    redis.call('EXPIRE', integrity, ttl)
    redis.call('EXPIRE', ips, ttl)
  end
end

local state = redis.call('HMGET', poll, 'created_at', 'closes_at', 'allow_change', 'voter_buckets',
                         'yay', 'nay', 'version')
local created = 0
if not state[1] then
  if ARGV[9] ~= '1' then
    return {'not_found'}
  end
  redis.call('HSET', poll, 'question', '', 'closes_at', '', 'allow_change', '1',
             'created_at', ARGV[3], 'yay', 0, 'nay', 0, 'voter_buckets', 1)
  state = {ARGV[3], '', '1', '1', '0', '0', false}
  created = 1
end
if state[2] and state[2] ~= '' and now >= tonumber(state[2]) then
  return {'closed'}
end

local layout, assumed = tonumber(state[4] or '0'), tonumber(ARGV[17])
if layout ~= assumed and (layout == 0 or assumed == 0
                          or voter_bucket_of(voter_hash(field), layout) ~= tonumber(ARGV[18])) then
  return {'moved', layout, created}
end

local allowed, remaining, reset = rate_limit_hit(
  rate_key, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), now)
if allowed == 0 then
  return {'rate_limited', reset}
end

local names = {'yay', 'nay'}
local counts = {tonumber(state[5] or '0'), tonumber(state[6] or '0')}
local previous = tonumber(redis.call('HGET', bucket, field) or '0')
if previous == choice then
  return {'ok', counts[1], counts[2], previous, remaining, reset, tonumber(state[7] or '0'), layout, created}
end

if previous == 0 then
  local brought = tonumber(redis.call('GET', new_voters_key) or '0')
  if brought >= tonumber(ARGV[7]) then
    witness('refused')
    return {'too_many_voters', tonumber(ARGV[8])}
  end
  if redis.call('INCR', new_voters_key) == 1 then
    redis.call('EXPIRE', new_voters_key, tonumber(ARGV[12]))
  end
  witness('new')
elseif state[3] == '0' then
  return {'change_not_allowed', previous}
else
  counts[previous] = redis.call('HINCRBY', poll, names[previous], -1)
  witness('changes')
end

redis.call('HSET', bucket, field, choice)
counts[choice] = redis.call('HINCRBY', poll, names[choice], 1)
local version = redis.call('HINCRBY', poll, 'version', 1)
local tally = counts
if previous == 0 and layout > 0 and layout == assumed and tally[1] + tally[2] > tonumber(ARGV[19]) * layout then
  voter_split(KEYS[7], KEYS[8], layout)
  layout = layout + 1
  redis.call('HSET', poll, 'voter_buckets', layout)
end
redis.call('SPUBLISH', ARGV[10], table.concat({ARGV[11], version, tally[1], tally[2]}, ' '))
return {'ok', tally[1], tally[2], previous, remaining, reset, version, layout, created}
