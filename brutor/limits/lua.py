"""The Redis scripts: one round trip per reserve, one per reconcile, each atomic on the server.

Numbers in Redis' Lua are doubles; every quantity here is an integer below 2**53 (see spec.MAX_*), so
the arithmetic is exact and identical to ``memory.MemoryBackend``, which mirrors these scripts. Integers
are written back with ``%d`` because Redis would otherwise format large doubles in exponent notation.
TTLs are relative to the caller's ``now`` and only garbage-collect (a bucket lives until drained plus
10 s, a slot set until its last lease ends, a budget until its window ends plus a grace period): the
logic never relies on them.
"""

from __future__ import annotations

_COMMON = """
local P = 60000
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) return -fdiv(-a, b) end
local function int(x) return string.format('%d', x) end
-- The limits as "code:limit:window" words (spec.LimitSet.spec): one argument instead of three per limit,
-- which halves the client's cost of encoding the command.
local function parse(spec)
  local codes, limits, windows = {}, {}, {}
  for c, l, w in string.gmatch(spec, '(%d+):(%d+):(%d+)') do
    local n = #codes + 1
    codes[n], limits[n], windows[n] = tonumber(c), tonumber(l), tonumber(w)
  end
  return codes, limits, windows
end
local function drained(key, limit, now)
  local v = redis.call('HMGET', key, 'l', 't')
  local level = tonumber(v[1]) or 0
  local t = tonumber(v[2]) or now
  if now > t then
    level = math.max(0, level - (now - t) * limit)
    t = now
  end
  return level, t
end
"""

# KEYS: one counter per limit.
# ARGV: now, reservation id, lease expiry, tokens, cost, budget grace ms, limits spec, end of the
#   current day, end of the current month.
# Reply (space-separated integers): allowed, denied index, retry ms, too large, then remaining and reset
#   of each per-minute limit (see decision.decide).
RESERVE = (
    _COMMON
    + """
local now, rid, expiry = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local tokens, cost, grace = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local codes, limits, windows = parse(ARGV[7])
local ends = {tonumber(ARGV[8]), tonumber(ARGV[9])}
local head = {1, 0, 0, 0}
local before, after = {}, {}  -- per-minute limits' remaining, reset: as things stand / after this one
local new, stamp = {}, {}
local best = -1
for i = 1, #KEYS do
  local key = KEYS[i]
  local code, limit = codes[i], limits[i]
  local verdict = 0  -- 0 passes, > 0 wait in ms, -1 never (the request alone exceeds the limit)
  if code <= 2 then
    local amount = tokens
    if code == 1 then amount = 1 end
    local level, t = drained(key, limit, now)
    local cap, need = limit * P, level + amount * P
    local n = #before
    before[n + 1], before[n + 2] = math.max(0, fdiv(cap - level, P)), cdiv(level, limit)
    if need <= cap then
      after[n + 1], after[n + 2], new[i], stamp[i] = fdiv(cap - need, P), cdiv(need, limit), need, t
    else
      after[n + 1], after[n + 2] = 0, 0
      verdict = cdiv(need - cap, limit)
      if amount > limit then verdict = -1 end
    end
  elseif code == 3 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if redis.call('ZCARD', key) >= limit then
      verdict = 1000  -- decision.SLOT_RETRY_MS
      if limit == 0 then verdict = -1 end
    end
  else
    local amount = cost
    if code == 4 then amount = tokens end
    local used = tonumber(redis.call('GET', key) or '0')
    if used + amount > limit then
      verdict = ends[windows[i]] - now
      if amount > limit then verdict = -1 end
    end
  end
  if verdict ~= 0 then
    local rank = verdict
    if verdict < 0 then rank = math.huge end
    if rank > best then
      best = rank
      head = {0, i, verdict, 0}
      if verdict < 0 then head = {0, i, 0, 1} end
    end
  end
end
local out = head
local tail = after
if head[1] == 0 then tail = before end
for j = 1, #tail do out[4 + j] = tail[j] end
-- One string, not an array: the Python client parses one bulk reply much faster than n integers.
-- Every value is below 1e14, which concat's %.14g prints exactly.
local reply = table.concat(out, ' ')
if out[1] == 0 then return reply end
for i = 1, #KEYS do
  local key = KEYS[i]
  local code, limit = codes[i], limits[i]
  if code <= 2 then
    redis.call('HSET', key, 'l', int(new[i]), 't', int(stamp[i]))
    redis.call('PEXPIRE', key, int(cdiv(new[i], limit) + 10000))
  elseif code == 3 then
    redis.call('ZADD', key, int(expiry), rid)
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', key, int(math.max(expiry, tonumber(last[2])) - now + 1000))
  else
    local amount = cost
    if code == 4 then amount = tokens end
    redis.call('INCRBY', key, int(amount))
    redis.call('PEXPIRE', key, int(ends[windows[i]] - now + grace))
  end
end
return reply
"""
)

# KEYS: the counters to settle (only those with work to do: token deltas, slots, budget deltas).
# ARGV: now, reservation id, token delta, cost delta, their limits spec.
RECONCILE = (
    _COMMON
    + """
local now, rid = tonumber(ARGV[1]), ARGV[2]
local dtokens, dcost = tonumber(ARGV[3]), tonumber(ARGV[4])
local codes, limits = parse(ARGV[5])
for i = 1, #KEYS do
  local key = KEYS[i]
  local code, limit = codes[i], limits[i]
  if code == 2 then
    local level, t = drained(key, limit, now)
    level = math.max(0, level + dtokens * P)
    if level == 0 then
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 'l', int(level), 't', int(t))
      redis.call('PEXPIRE', key, int(cdiv(level, limit) + 10000))
    end
  elseif code == 3 then
    redis.call('ZREM', key, rid)
  elseif redis.call('EXISTS', key) == 1 then
    -- A window already expired stays gone: INCRBY would recreate it without a TTL.
    local delta = dcost
    if code == 4 then delta = dtokens end
    if redis.call('INCRBY', key, int(delta)) < 0 then redis.call('SET', key, '0', 'KEEPTTL') end
  end
end
return 1
"""
)

# Read-only view of the counters (see MemoryBackend.inspect). ARGV: now, limits spec.
INSPECT = (
    _COMMON
    + """
local now = tonumber(ARGV[1])
local codes, limits = parse(ARGV[2])
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local code, limit = codes[i], limits[i]
  if code <= 2 then
    out[i] = drained(key, limit, now)
  elseif code == 3 then
    out[i] = redis.call('ZCOUNT', key, '(' .. int(now), '+inf')
  else
    out[i] = tonumber(redis.call('GET', key) or '0')
  end
end
return out
"""
)
