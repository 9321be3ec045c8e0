-- wrk: a new voter on every request, alternating YAY and NAY.
local counter = 0


function setup(thread)
  thread:set("thread_id", math.random(1, 1000000000))
end

function request()
  counter = counter + 1
  local choice = (counter % 2 == 0) and "yay" or "nay"
  local body = string.format([[{"choice":"%s","voter":"bench-%010d-%010d"}]], choice, thread_id, counter)
  return wrk.format("POST", "/api/v1/polls/bench/votes", {["Content-Type"] = "application/json"}, body)
end
