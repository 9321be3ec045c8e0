-- wrk: new comments as the widget posts them (JSON), each body unlike any sent before
-- (the same text from one client within ten minutes is answered as the same comment).
-- Arguments (after --): salt (unique per run), thread id prefix, number of threads.
local HEADERS = {["Content-Type"] = "application/json"}
local TEXT = "Mini backpacks hold a phone, keys and a paperback; anything more and you are back to a tote."

local threads = 0
local salt, prefix, thread_count
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  salt, prefix, thread_count = args[1], args[2], tonumber(args[3])
end

function request()
  counter = counter + 1
  local body = string.format(
    [[{"author":"Reader %d","email":"reader%d@example.com","body":"Comment %s-%d-%d. %s"}]],
    counter % 1000, counter % 1000, salt, thread_number, counter, TEXT)
  local path = "/api/v1/threads/" .. prefix .. (counter % thread_count) .. "/comments"
  return wrk.format("POST", path, HEADERS, body)
end
