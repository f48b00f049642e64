-- wrk: POSTs one large body (VERDICT_BODY_BYTES, default 16 MiB) to VERDICT_PATH with the
-- bearer token VERDICT_TOKEN, over and over.
local path = os.getenv("VERDICT_PATH")
local token = os.getenv("VERDICT_TOKEN")
local size = tonumber(os.getenv("VERDICT_BODY_BYTES") or tostring(16 * 1024 * 1024))
-- A JSON body of that size: {"events": [ {…}, {…}, … ]}.
local event = '{"experimentId":"00000000-0000-7000-8000-000000000000","userId":"u","eventType":"exposure"},'
local parts = {'{"events":['}
local len = 11
while len + #event < size - 2 do
  parts[#parts + 1] = event
  len = len + #event
end
parts[#parts + 1] = '{}]}'
local body = table.concat(parts)
local req = wrk.format("POST", path,
  {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
request = function()
  return req
end
