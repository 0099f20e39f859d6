-- The full Verified Users flow, chained: /v3/verify (possession by OTP) -> the Web SDK's
-- /v1/client/mobile/otp/start -> /v1/client/mobile/otp/finish with the code -> /v3/verify-status,
-- then a new flow. Each step is sent once the previous one's answer was read and checked.
--
-- wrk gives a script no handle on the connection a response came on, only on its thread, so
-- bench/run.py runs this with one connection per thread (-tN -cN): a thread's state is then its
-- connection's flow. done() sums the threads' counters and prints one line for bench/run.py.
local access = "Bearer " .. os.getenv("BENCH_ACCESS_TOKEN")
local verify_body = os.getenv("BENCH_BODY")
local finish_body = '{"otp":"' .. os.getenv("BENCH_OTP") .. '"}'

local step = "verify"
local auth_token, correlation_id
flows = 0     -- flows whose verify-status said success (globals: thread:get reads them)
failures = 0  -- steps answered otherwise; the flow starts again

-- A server API call, with the project's access token.
local function api(path, body)
  return wrk.format("POST", path, {["Content-Type"] = "application/json", ["Authorization"] = access}, body)
end

-- A device-channel call with the headers the Web SDK puts on every call (web-sdk-protocol §3.1).
local function sdk(path, body)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json", ["Accept"] = "application/json",
    ["PA-Version"] = "ProveAuth/3.6.2 Contract/2.15.1 WEB/1", ["Origin"] = "http://127.0.0.1:5173",
    ["Authorization"] = "Bearer " .. auth_token}, body)
end

function request()
  if step == "verify" then
    return api("/v3/verify", verify_body)
  elseif step == "start" then
    return sdk("/v1/client/mobile/otp/start", "{}")
  elseif step == "finish" then
    return sdk("/v1/client/mobile/otp/finish", finish_body)
  end
  return api("/v3/verify-status", '{"correlationId":"' .. correlation_id .. '"}')
end

local function says(body, field, value)
  return body:match('"' .. field .. '"%s*:%s*"' .. value .. '"') ~= nil
end

function response(status, headers, body)
  local following
  if status ~= 200 then
    following = nil
  elseif step == "verify" then
    correlation_id = body:match('"correlationId"%s*:%s*"([^"]+)"')
    auth_token = body:match('"authToken"%s*:%s*"([^"]+)"')
    following = correlation_id and auth_token and "start"
  elseif step == "start" then
    following = says(body, "next", "mobile/otp") and "finish"
  elseif step == "finish" then
    following = says(body, "next", "done") and "status"
  elseif says(body, "success", "true") then
    flows = flows + 1
    following = "verify"
  end
  if following then
    step = following
  else
    failures = failures + 1
    step = "verify"
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local completed, failed = 0, 0
  for _, thread in ipairs(threads) do
    completed = completed + thread:get("flows")
    failed = failed + thread:get("failures")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"socket_errors":%d,"flows":%d,"failures":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout, completed, failed))
end
