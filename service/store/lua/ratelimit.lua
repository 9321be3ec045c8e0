-- Fixed-window rate limit, shared by every script that takes reader input
-- (scripts.py prepends this file where a script says `--!include ratelimit`).
--
-- rate_limit_hit(key, limit, window, window_start, now) counts one hit on `key`, the
-- counter of the window beginning at `window_start`, unless `limit` hits are already
-- counted. It returns allowed (1 or 0), hits remaining after this one, and the seconds
-- until the window resets.
local function rate_limit_hit(key, limit, window, window_start, now)
  local reset = math.max(1, math.ceil(window_start + window - now))
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= limit then
    return 0, 0, reset
  end
  used = redis.call('INCR', key)
  if used == 1 then
    redis.call('EXPIRE', key, window + 1)
  end
  return 1, limit - used, reset
end
