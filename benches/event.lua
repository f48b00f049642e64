-- wrk: one event per request (durable acknowledgement), a different user each time.
dofile("benches/threads.lua")

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
