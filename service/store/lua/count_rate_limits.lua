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
local function limit_of(i)
  return tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
end

for i = 1, #KEYS do
  local limit, window, start = limit_of(i)
  if rate_limit_full(KEYS[i], limit) then
    return {0, i, rate_limit_reset(window, start, now)}
  end
end

local closest_remaining, closest_reset, hits = nil, 0, 0
for i = 1, #KEYS do
  local limit, window, start = limit_of(i)
  local _, remaining, reset = rate_limit_hit(KEYS[i], limit, window, start, now)
  if closest_remaining == nil or remaining < closest_remaining then
    closest_remaining, closest_reset = remaining, reset
  end
  hits = limit - remaining
end
return {1, closest_remaining, closest_reset, hits}
