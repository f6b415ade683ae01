-- wrk -s bench/wrk/plain.lua: non-stream chat completion, body-checked (see common.lua).
BENCH_MODE = "plain"
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
