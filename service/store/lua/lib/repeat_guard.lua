-- Duplicate guards, shared by the scripts that take comments
-- (scripts.py prepends this file where a script says `--!include repeat_guard`).
-- A guard key holds "<comment key> <time stored>" and counts while younger than its
-- window; the key's own expiry only cleans up, so tests and clocks agree.

local function guarded(guard, window, now)
  local value = redis.call('GET', guard)
  if not value then
    return nil
  end
  local earlier, stored_at = string.match(value, '^(%S+) (%S+)$')
  if earlier and tonumber(now) - tonumber(stored_at) < window then
    return earlier
  end
  return nil
end

-- The comment key a submission repeats: by its Idempotency-Key guard (when the TTL is
-- above 0), else by its same-text guard; nil for a new submission.
local function repeat_of(idem, idem_ttl, duplicate, duplicate_window, now)
  return (idem_ttl > 0 and guarded(idem, idem_ttl, now)) or guarded(duplicate, duplicate_window, now)
end
