-- wrk -s bench/wrk/stream.lua: streamed chat completion, body-checked (see common.lua).
BENCH_MODE = "stream"
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
