-- Fixed-window rate limits, shared by every script that takes reader input
-- (scripts.py prepends this file where a script says `--!include ratelimit`).
-- A limit is a counter key for the window beginning at `window_start`, holding at most
-- `limit` hits; the key expires one second after its window.

-- Seconds until the window that began at `window_start` resets.
local function rate_limit_reset(window, window_start, now)
  return math.max(1, math.ceil(window_start + window - now))
end

-- True when the counter already holds `limit` hits.
local function rate_limit_full(key, limit)
  return tonumber(redis.call('GET', key) or '0') >= limit
end

-- Count one hit unless the window is full. Returns allowed (1 or 0), the hits remaining
-- after this one, and the seconds until the window resets.
local function rate_limit_hit(key, limit, window, window_start, now)
  local reset = rate_limit_reset(window, window_start, now)
  if rate_limit_full(key, limit) then
    return 0, 0, reset
  end
  local used = redis.call('INCR', key)
  if used == 1 then
    redis.call('EXPIRE', key, window + 1)
  end
  return 1, limit - used, reset
end

-- Several limits of one client, all or nothing. `limits[i]` is {counter key, limit, window,
-- window start}. The first limit that refuses a hit: its index and reset; nil when all admit it.
local function rate_limits_refusal(limits, now)
  for i, limit in ipairs(limits) do
    if rate_limit_full(limit[1], limit[2]) then
      return i, rate_limit_reset(limit[3], limit[4], now)
    end
  end
  return nil
end

-- Count one hit on every limit (once rate_limits_refusal admitted it). Returns the hits
-- remaining and the reset of the limit closest to refusing, and the count on the last limit.
local function rate_limits_hit(limits, now)
  local closest_remaining, closest_reset, hits = nil, 0, 0
  for _, limit in ipairs(limits) do
    local _, remaining, reset = rate_limit_hit(limit[1], limit[2], limit[3], limit[4], now)
    if closest_remaining == nil or remaining < closest_remaining then
      closest_remaining, closest_reset = remaining, reset
    end
    hits = limit[2] - remaining
  end
  return closest_remaining, closest_reset, hits
end

-- The limits of a script's call: keys KEYS[first_key ...], and for each, three ARGV values
-- (count, window, window start) from ARGV[first_arg].
local function rate_limits_from(first_key, count, first_arg)
  local limits = {}
  for i = 0, count - 1 do
    local at = first_arg + 3 * i
    limits[#limits + 1] = {KEYS[first_key + i], tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])}
  end
  return limits
end
