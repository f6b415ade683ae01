"""Worker process for test_limits_multiprocess: fires reserve attempts at one RPM limit shared through
Redis and prints how many were allowed. Usage: rpm_worker.py PREFIX START_AT ATTEMPTS LIMIT"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from brutor.limits import LimitKind, LimitSet, LimitSpec
from brutor.limits.redis_backend import RedisBackend, connect

CONCURRENCY = 8


async def main(prefix: str, start_at: float, attempts: int, limit: int) -> None:
    client = connect("redis://127.0.0.1:6379/0", timeout=2.0)
    backend = RedisBackend(client, prefix=prefix)
    limits = LimitSet([("key:shared", LimitSpec(LimitKind.RPM, limit))])
    await client.ping()  # connected before the start line
    await asyncio.sleep(max(0.0, start_at - time.time()))
    left = attempts
    allowed = 0
    first = time.time()

    async def fire() -> None:
        nonlocal left, allowed
        while left > 0:
            left -= 1
            decision = await backend.reserve(limits, tokens=0, cost=0, lease_ms=1000)
            allowed += decision.allowed

    await asyncio.gather(*(fire() for _ in range(CONCURRENCY)))
    print(json.dumps({"allowed": allowed, "first": first, "last": time.time()}))
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
