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
