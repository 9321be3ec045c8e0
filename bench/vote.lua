-- wrk: votes from new voters spread over many polls; about one in ten changes an
-- earlier vote of this wrk thread to the other choice.
-- Arguments (after --): salt (unique per run, so no run repeats another's voters),
-- poll id prefix, number of polls (ids <prefix>0 .. <prefix><n-1>).
local CHANGE_SHARE = 0.1
local KEPT = 10000
local HEADERS = {["Content-Type"] = "application/json"}

local threads = 0
local salt, prefix, polls
local counter = 0
local earlier = {}

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  salt, prefix, polls = args[1], args[2], tonumber(args[3])
  math.randomseed(tonumber(string.sub(salt, 1, 7), 16) + thread_number)
end

local function new_vote()
  counter = counter + 1
  local vote = {
    poll = prefix .. (math.random(polls) - 1),
    -- 24 characters of [0-9a-f]: a token VoteSchema accepts.
    voter = string.format("%s%02d%010d", salt, thread_number, counter),
    choice = (math.random(2) == 1) and "yay" or "nay",
  }
  if #earlier < KEPT then
    earlier[#earlier + 1] = vote
  else
    earlier[math.random(KEPT)] = vote
  end
  return vote
end

local function changed_vote()
  local vote = earlier[math.random(#earlier)]
  vote.choice = (vote.choice == "yay") and "nay" or "yay"
  return vote
end

function request()
  local vote
  if #earlier > 0 and math.random() < CHANGE_SHARE then
    vote = changed_vote()
  else
    vote = new_vote()
  end
  local body = string.format([[{"choice":"%s","voter":"%s"}]], vote.choice, vote.voter)
  return wrk.format("POST", "/api/v1/polls/" .. vote.poll .. "/votes", HEADERS, body)
end
