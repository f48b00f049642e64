-- wrk: POST /ofrep/v1/evaluate/flags/{key}: one flag (VERDICT_FLAG, default prompt:target-1,
-- load.sh's experiment 1) for a different targetingKey on every request, as resolve.lua does.
dofile("benches/threads.lua")

local token = os.getenv("VERDICT_TOKEN")
local flag = os.getenv("VERDICT_FLAG") or "prompt:target-1"
local n = 0
request = function()
  n = n + 1
  local body = '{"context":{"targetingKey":"user-' .. thread_id .. '-' .. n .. '","intent":"risk"}}'
  return wrk.format("POST", "/ofrep/v1/evaluate/flags/" .. flag,
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
