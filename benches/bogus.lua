-- wrk: resolves with a bogus bearer token on every request. VERDICT_BOGUS=malformed sends
-- "Bearer x" (refused by its form); otherwise each request brings a new token of the right
-- form (vdt_ and 64 hex digits), which the server must look up once: the worst case.
dofile("benches/threads.lua")

local mode = os.getenv("VERDICT_BOGUS") or "fresh"
local n = 0
local body = '{"tenantId":"acme","userId":"u"}'
request = function()
  n = n + 1
  local token
  if mode == "malformed" then
    token = "x"
  else
    token = string.format("vdt_%016x%016x%016x%016x", thread_no, n, 0, 7)
  end
  return wrk.format("POST", "/api/v1/insights/resolve",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
