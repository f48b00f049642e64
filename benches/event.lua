-- wrk: one event per request (durable acknowledgement), a different user each time.
-- Each wrk thread runs its own copy of this script, and LuaJIT's math.random is not seeded
-- per thread: ids drawn with it were the same in both threads, so every user got two events
-- at once. `setup` hands each thread its own number instead, and the run its own prefix.
local threads = 0
local run = os.time()
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", run .. "-" .. threads)
end

local token = os.getenv("VERDICT_TOKEN")
local experiment = os.getenv("VERDICT_EXPERIMENT")
local n = 0
request = function()
  n = n + 1
  local body = '{"userId":"user-' .. thread_id .. '-' .. n ..
    '","eventType":"feedback","metrics":{"quality":0.82,"latency":1234,"tokensUsed":900,"cost":0.004,"userSatisfaction":"positive"}}'
  return wrk.format("POST", "/api/v1/insights/experiments/" .. experiment .. "/events",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
