-- wrk: POST /api/v1/insights/resolve with a different userId on every request.
-- Each wrk thread runs its own copy of this script (see event.lua): `setup` gives each thread
-- its own part of the user ids, so no id is asked for twice.
local threads = 0
local run = os.time()
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", run .. "-" .. threads)
end

local token = os.getenv("VERDICT_TOKEN")
local n = 0
request = function()
  n = n + 1
  local body = '{"tenantId":"acme","userId":"user-' .. thread_id .. '-' .. n .. '","intent":"risk"}'
  return wrk.format("POST", "/api/v1/insights/resolve",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
