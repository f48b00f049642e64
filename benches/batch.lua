-- wrk: batches of events read from $VERDICT_BATCH_FILE, one JSON body a line; requests cycle
-- through them (different users in each body, as real traffic has). Each thread starts at
-- its own place in the cycle, so the two do not send the same body at once.
dofile("benches/threads.lua")

local token = os.getenv("VERDICT_TOKEN")
local bodies = {}
for line in io.lines(os.getenv("VERDICT_BATCH_FILE")) do
  bodies[#bodies + 1] = line
end
local n = 0
init = function()
  n = ((thread_no or 1) - 1) * math.floor(#bodies / 2)
end
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", "/api/v1/insights/events/batch",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, bodies[n])
end
