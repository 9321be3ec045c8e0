--!include ratelimit
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
--
-- New votes, changes and new voters refused by the per-IP ceiling are counted in the
-- integrity keys here, so the figures cost no round trip of their own.
--
-- A change bumps the poll's tally version and publishes "<poll id> <version> <yay> <nay>"
-- on the poll's shard channel (SPUBLISH: only the shard owning the poll hears it).
--
-- Returns {'ok', yay, nay, previous choice or 0, remaining, reset, version}
--      or {'not_found'} | {'closed'} | {'change_not_allowed', current choice}
--      or {'rate_limited', retry_after} | {'too_many_voters', retry_after}
local poll, bucket, rate_key, new_voters_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local field, choice, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local function witness(counter)
  local integrity, ips, ttl, kept = KEYS[5], KEYS[6], tonumber(ARGV[15]), tonumber(ARGV[16])
  if counter ~= 'refused' then
    redis.call('HINCRBY', integrity, 'm' .. ARGV[14], 1)
  end
  redis.call('HINCRBY', integrity, counter, 1)
  redis.call('EXPIRE', integrity, ttl)
  redis.call('ZINCRBY', ips, 1, ARGV[13])
  if redis.call('ZCARD', ips) > 2 * kept then
    redis.call('ZREMRANGEBYRANK', ips, 0, -(kept + 1))
  end
  redis.call('EXPIRE', ips, ttl)
end

if redis.call('EXISTS', poll) == 0 then
  if ARGV[9] ~= '1' then
    return {'not_found'}
  end
  redis.call('HSET', poll, 'question', '', 'closes_at', '', 'allow_change', '1',
             'created_at', ARGV[3], 'yay', 0, 'nay', 0)
end

local settings = redis.call('HMGET', poll, 'closes_at', 'allow_change')
if settings[1] and settings[1] ~= '' and now >= tonumber(settings[1]) then
  return {'closed'}
end

local allowed, remaining, reset = rate_limit_hit(
  rate_key, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), now)
if allowed == 0 then
  return {'rate_limited', reset}
end

local names = {'yay', 'nay'}
local previous = tonumber(redis.call('HGET', bucket, field) or '0')
if previous == choice then
  local tally = redis.call('HMGET', poll, 'yay', 'nay', 'version')
  return {'ok', tonumber(tally[1]), tonumber(tally[2]), previous, remaining, reset, tonumber(tally[3] or '0')}
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
elseif settings[2] == '0' then
  return {'change_not_allowed', previous}
else
  redis.call('HINCRBY', poll, names[previous], -1)
  witness('changes')
end

redis.call('HSET', bucket, field, choice)
redis.call('HINCRBY', poll, names[choice], 1)
local version = redis.call('HINCRBY', poll, 'version', 1)
local tally = redis.call('HMGET', poll, 'yay', 'nay')
redis.call('SPUBLISH', ARGV[10], table.concat({ARGV[11], version, tally[1], tally[2]}, ' '))
return {'ok', tonumber(tally[1]), tonumber(tally[2]), previous, remaining, reset, version}
