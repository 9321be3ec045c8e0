--!include ratelimit
-- Count one hit against several limits of one client, all or nothing.
--
-- KEYS[i] the counter of limit i in its current window (all in the client's slot)
-- ARGV[1] now (epoch seconds), then for each limit i: count, window (s), window start
--
-- Returns {1, remaining, reset, hits} when every limit admits the hit: remaining and reset
-- of the limit closest to refusing, hits the count on the last limit after this hit.
-- Returns {0, i, reset} when limit i refuses; nothing is counted then.
local now = tonumber(ARGV[1])
local limits = rate_limits_from(1, #KEYS, 2)
local refused, refused_reset = rate_limits_refusal(limits, now)
if refused then
  return {0, refused, refused_reset}
end
return {1, rate_limits_hit(limits, now)}
