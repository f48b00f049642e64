-- wrk: POST /ofrep/v1/evaluate/flags: every flag (load.sh's 20 experiments reach tenant acme)
-- for a different targetingKey on every request. With VERDICT_ETAG set, every request is
-- instead the same context ("user-etag") with If-None-Match: that tag (each answer a 304;
-- load.sh checks that with curl first).
dofile("benches/threads.lua")

local token = os.getenv("VERDICT_TOKEN")
local etag = os.getenv("VERDICT_ETAG")
local n = 0
request = function()
  n = n + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  local user = "user-" .. thread_id .. "-" .. n
  if etag then
    headers["If-None-Match"] = etag
    user = "user-etag"
  end
  local body = '{"context":{"targetingKey":"' .. user .. '","intent":"risk"}}'
  return wrk.format("POST", "/ofrep/v1/evaluate/flags", headers, body)
end

