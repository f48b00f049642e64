-- wrk: POST /api/v1/insights/resolve with a different userId on every request.
dofile("benches/threads.lua")

local token = os.getenv("VERDICT_TOKEN")
local n = 0
request = function()
  n = n + 1
  local body = '{"tenantId":"acme","userId":"user-' .. thread_id .. '-' .. n .. '","intent":"risk"}'
  return wrk.format("POST", "/api/v1/insights/resolve",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
