-- Clear "to index" marks of one thread once their site-wide indexes are written, unless a
-- later write marked the comment again meanwhile (its mark then has another value).
--
-- KEYS[1] the thread's "to index" marker (hash: comment key -> "<now> <email digest>")
-- ARGV pairs: comment key, the mark's value when it was indexed
--
-- Returns how many marks were cleared.
local cleared = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    cleared = cleared + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return cleared
