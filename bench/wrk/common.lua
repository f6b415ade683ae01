-- Shared wrk logic for the Brutor benchmark: POST a realistic chat request and CHECK EVERY BODY.
--
-- A benchmark must check bodies, not statuses: an error raised after a stream has started still
-- leaves a 200 with a short body. A response counts as good only if its status is 200, its body is at
-- least BENCH_MIN_LEN bytes, and it carries the mode's marker:
--   plain  -> contains "chat.completion" (with the quotes, so a chunk object does not match)
--   stream -> ends with "data: [DONE]" (searched in the last 64 bytes)
--
-- Environment (all optional):
--   BENCH_BODY_FILE  request body (default ../shared/peerbench/request[_stream].json beside the repo)
--   BENCH_MODEL      rewrite the body's "model" field (e.g. bench-plain for Brutor)
--   BENCH_KEY        bearer key (default sk-bench-0123456789)
--   BENCH_MIN_LEN    minimum good body length in bytes (default 1)
--
-- done() prints one line "BENCH_RESULT k=v ..." that bench/run.py parses.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local mode = BENCH_MODE or os.getenv("BENCH_MODE") or "plain"

local function readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function default_body_file()
  local name = (mode == "stream") and "request_stream.json" or "request.json"
  for _, dir in ipairs({ here .. "../data/", here .. "../../../shared/peerbench/" }) do
    if readfile(dir .. name) then return dir .. name end
  end
  return here .. "../../../shared/peerbench/" .. name
end

local body_file = os.getenv("BENCH_BODY_FILE") or default_body_file()
local body = readfile(body_file)
if not body then error("cannot read request body " .. body_file) end
body = body:gsub("%s+$", "")
local model = os.getenv("BENCH_MODEL")
if model and model ~= "" then
  body = body:gsub('"model"%s*:%s*"[^"]*"', '"model":"' .. model .. '"', 1)
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench-0123456789")

local min_len = tonumber(os.getenv("BENCH_MIN_LEN") or "1") or 1
local find = string.find

-- per-thread counters (each wrk thread has its own Lua state; done() reads them via thread:get)
good = 0
bad = 0
first_bad = ""

local function mark_bad(status, b)
  bad = bad + 1
  if first_bad == "" then
    first_bad = tostring(status) .. " len=" .. tostring(#b) .. " " .. b:sub(1, 160):gsub("[\r\n]", " ")
  end
end

if mode == "stream" then
  function response(status, headers, b)
    local n = #b
    if status ~= 200 or n < min_len or not find(b, "data: [DONE]", n > 64 and n - 64 or 1, true) then
      return mark_bad(status, b)
    end
    good = good + 1
  end
else
  function response(status, headers, b)
    if status ~= 200 or #b < min_len or not find(b, '"chat.completion"', 1, true) then
      return mark_bad(status, b)
    end
    good = good + 1
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local g, b, fb = 0, 0, ""
  for _, t in ipairs(threads) do
    g = g + (t:get("good") or 0)
    b = b + (t:get("bad") or 0)
    local f = t:get("first_bad") or ""
    if fb == "" then fb = f end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT mode=%s requests=%d duration_us=%d good=%d bad=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d " ..
    "p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f\n",
    mode, summary.requests, summary.duration, g, b,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  if fb ~= "" then io.write("BENCH_FIRST_BAD " .. fb .. "\n") end
end
