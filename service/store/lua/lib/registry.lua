-- Registries with a ceiling (polls, threads), shared by the scripts that admit to them
-- (scripts.py prepends this file where a script says `--!include registry`).

-- Admit `id` to `registry` (a sorted set scored by time) unless it holds `most` ids.
-- Returns true when the id is (or already was) registered, false at the ceiling.
local function admit(registry, id, now, most)
  if redis.call('ZSCORE', registry, id) then
    return true
  end
  if redis.call('ZCARD', registry) >= most then
    return false
  end
  redis.call('ZADD', registry, now, id)
  return true
end
