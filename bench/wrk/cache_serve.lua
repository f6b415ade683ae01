-- wrk -s bench/wrk/cache_serve.lua: the cache serving benchmark (bench/cache_serve.py).
--
-- Every body is checked as in plain.lua / stream.lua (common.lua; BENCH_MODE=plain|stream comes from
-- the environment), and every response's x-brutor-cache header is tallied, so the runner can prove
-- that a "hit" mode was served from the cache and a "miss" mode was not.
--
-- Environment (besides common.lua's):
--   BENCH_BODIES_FILE   one request body per line, sent in rotation (default: common.lua's one body)
--   BENCH_UNIQUE_FROM   when set, "@@N@@" in a body is replaced by a counter starting there, so that
--                       every request is different (per wrk thread: + thread index * 10^9)
--   BENCH_CACHE_COUNTS  file that done() writes the tallies to, one line:
--                       exact=… semantic=… miss=… bypass=… none=… other=… sim_min=… sim_max=…
--                       (exact = "hit; similarity=1.0000", semantic = any other hit)

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local function readlines(path)
  local out = {}
  for line in io.lines(path) do
    line = line:gsub("%s+$", "")
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

local bodies_file = os.getenv("BENCH_BODIES_FILE")
local bodies = bodies_file and readlines(bodies_file) or { wrk.body }
if #bodies == 0 then error("no request body in " .. tostring(bodies_file)) end
local unique_from = tonumber(os.getenv("BENCH_UNIQUE_FROM") or "")
local nbodies = #bodies
local format, gsub, match = wrk.format, string.gsub, string.match

-- per-thread state (each wrk thread has its own Lua state)
sent = 0
exact, semantic, miss, bypass, none, other = 0, 0, 0, 0, 0, 0
sim_min, sim_max = 2.0, -2.0
thread_index = 0

local base_setup = setup
local all_threads = {}
local next_index = 0

function setup(thread)
  base_setup(thread)
  thread:set("thread_index", next_index)
  next_index = next_index + 1
  table.insert(all_threads, thread)
end

function request()
  local body = bodies[sent % nbodies + 1]
  if unique_from then
    body = gsub(body, "@@N@@", tostring(unique_from + thread_index * 1000000000 + sent), 1)
  end
  sent = sent + 1
  return format(nil, nil, nil, body)
end

local check = response

function response(status, headers, body)
  local v = headers["x-brutor-cache"] or headers["X-Brutor-Cache"]
  if v == nil then
    none = none + 1
  elseif v:sub(1, 4) == "hit;" then
    local s = tonumber(match(v, "similarity=([%d%.]+)"))
    if s == nil then
      other = other + 1
    elseif v == "hit; similarity=1.0000" then
      exact = exact + 1
    else
      semantic = semantic + 1
      if s < sim_min then sim_min = s end
      if s > sim_max then sim_max = s end
    end
  elseif v == "miss" then
    miss = miss + 1
  elseif v:sub(1, 6) == "bypass" then
    bypass = bypass + 1
  else
    other = other + 1
  end
  return check(status, headers, body)
end

local base_done = done

function done(summary, latency, requests)
  base_done(summary, latency, requests)
  local path = os.getenv("BENCH_CACHE_COUNTS")
  if not path then return end
  local t = { exact = 0, semantic = 0, miss = 0, bypass = 0, none = 0, other = 0 }
  local lo, hi = 2.0, -2.0
  for _, th in ipairs(all_threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
    lo = math.min(lo, th:get("sim_min") or 2.0)
    hi = math.max(hi, th:get("sim_max") or -2.0)
  end
  local f = assert(io.open(path, "w"))
  f:write(string.format(
    "exact=%d semantic=%d miss=%d bypass=%d none=%d other=%d sim_min=%.4f sim_max=%.4f\n",
    t.exact, t.semantic, t.miss, t.bypass, t.none, t.other, lo, hi))
  f:close()
end
