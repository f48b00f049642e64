-- wrk: batches of events read from $VERDICT_BATCH_FILE (the same body every time).
local token = os.getenv("VERDICT_TOKEN")
local f = io.open(os.getenv("VERDICT_BATCH_FILE"), "r")
local body = f:read("*a")
f:close()
request = function()
  return wrk.format("POST", "/api/v1/insights/events/batch",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
