-- wrk: a new comment with a unique body on every request, to Isso's bench thread (bench/isso_peer.py).
local counter = 0

function setup(thread)
  thread:set("thread_id", math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local body = string.format(
    [[{"text":"Bench comment %010d-%010d: the *small* one holds a laptop.","author":"Bench"}]],
    thread_id, counter)
  return wrk.format("POST", "/new?uri=%2Fbench-posts", {["Content-Type"] = "application/json"}, body)
end
