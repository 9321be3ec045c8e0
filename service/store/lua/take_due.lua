-- Take the members of a schedule whose time has come: read and removed in one step, so
-- however many workers sweep at once, each member is taken by exactly one of them.
--
-- KEYS[1] the schedule (sorted set, scored by due time)
-- ARGV[1] now (epoch seconds)   ARGV[2] most members taken
--
-- Returns the members taken, earliest first.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then
  redis.call('ZREM', KEYS[1], unpack(due))
end
return due
