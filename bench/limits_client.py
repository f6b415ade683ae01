"""Client CPU per rate-limited request with Redis-backed limits: redis-py (before) vs brutor's own RESP
client (after), same run, same limits. Needs Redis on 127.0.0.1:6379 (db 15 by default, as the governed
bench target).

    python bench/limits_client.py                   # uvloop, as granian runs the gateway
    python bench/limits_client.py --stages          # also identify + authorize per request
    python bench/limits_client.py --loop asyncio    # the default event loop

A "pair" is what one request costs the limiter: ``RateLimiter.reserve`` before the upstream call and the
settlement after it, against the four limits of ``bench/brutor-governed.yaml`` compiled by ``LimitPolicy``
(tenant RPM + TPM, user RPM, model TPM; the token estimate differs from the usage, so the settlement has
work to do). "awaited": reserve, then ``await reconcile``; "gateway": settled as the return path does
(``settle_now``, else ``reconcile`` in a task). Sequential, and 32 tasks at once. CPU is this process'
``time.process_time`` per pair, user + system (on loopback the kernel's TCP work, the receiver's
included, is charged to the sender); the user part in parentheses is from ``getrusage`` (sampled, so
approximate). Wall time gives pairs/s. Runs of the two clients are interleaved and the median of the
rounds is printed, because this 2-core VM is shared.

"Before" is the pre-issue backend kept here verbatim in ``LegacyRedisBackend`` (redis-py's asyncio client,
``evalsha`` with every argument encoded per call, the engine's ``asyncio.timeout`` per call).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import resource
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from brutor.config import GatewayConfig
from brutor.context import Call, Principal, RequestContext, Target
from brutor.identity.jwt_auth import JwtAuthenticator
from brutor.limits import BackendUnavailable, LimitSet, MemoryBackend, RateLimiter, lua
from brutor.limits.clock import DAY_MS, CalendarWindows, wall_clock_ms
from brutor.limits.decision import Decision, Reservation, decide
from brutor.limits.policy import LimitPolicy, Limits
from brutor.limits.redis_backend import RedisBackend, connect
from brutor.limits.redis_client import RedisClient
from brutor.limits.spec import BUDGET_COST, BUDGET_TOKENS, DAY, NO_WINDOW, RATE_TOKENS, SLOTS, Entry
from brutor.pipeline.authorize import Authorize
from brutor.pipeline.identify import Identify


class Cpu:
    """CPU time of this process over a span: total from ``process_time`` (exact), split into user and
    system by ``getrusage`` (sampled by the kernel, so the split is approximate)."""

    def __init__(self) -> None:
        self.t = time.process_time()
        self.ru = resource.getrusage(resource.RUSAGE_SELF)

    def per(self, n: int) -> tuple[float, float]:
        """(total, user) µs per operation since construction."""
        ru = resource.getrusage(resource.RUSAGE_SELF)
        total = time.process_time() - self.t
        user = ru.ru_utime - self.ru.ru_utime
        sampled = user + ru.ru_stime - self.ru.ru_stime
        return total / n * 1e6, (total * user / sampled if sampled else 0.0) / n * 1e6


# bench/stages.py's request: model "m", prompt estimate 100, max_tokens 50.
STAGE_CALL = Call(Target.LLM, "chat.completions", "m", False, None, 100, 50)


def governed_limits() -> LimitSet:
    """The limit set one request of the governed bench target is checked against."""
    cfg = GatewayConfig.model_validate(
        {
            "providers": [{"name": "offline", "type": "offline"}],
            "models": [{"name": "bench-plain", "provider": "offline"}],
            "limits": {
                "tenants": {"bench": {"rpm": 100_000_000, "tpm": 100_000_000_000}},
                "users": {"*": {"rpm": 100_000_000}},
                "models": {"*": {"tpm": 100_000_000_000}},
            },
        }
    )
    return LimitPolicy(cfg).limits_for(Principal("k", "bench", "alice"), "bench-plain")


class LegacyRedisBackend:
    """The backend as it was before this client: redis-py, arguments encoded per call (for the before
    numbers only; the same scripts, so both backends do identical work on the server)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = wall_clock_ms
        self._grace = DAY_MS
        self._windows = CalendarWindows()
        self._tag = secrets.token_hex(6) + "-"
        self._ids = itertools.count()
        self._scripts = {
            s: hashlib.sha1(s.encode(), usedforsecurity=False).hexdigest()
            for s in (lua.RESERVE, lua.RECONCILE)
        }

    def bound(self, timeout: float) -> bool:
        return False  # as before: the engine wraps every call in asyncio.timeout

    def settle_nowait(self, reservation: Reservation, *, tokens: int, cost: int, done: Any) -> bool:
        return False  # as before: the return path runs reconcile in a task

    async def aclose(self) -> None:
        await self._client.aclose()

    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        now = self._clock()
        day, day_end = self._windows.day(now) if limits.needs_day else ("", 0)
        month, month_end = self._windows.month(now) if limits.needs_month else ("", 0)
        rid = f"{self._tag}{next(self._ids)}"
        keys = self._keys(limits.entries, day, month)
        args = (now, rid, now + lease_ms, tokens, cost, self._grace, limits.spec, day_end, month_end)
        raw = [int(v) for v in (await self._eval(lua.RESERVE, keys, args)).split()]
        if not raw[0]:
            return decide(limits, raw, None)
        return decide(limits, raw, Reservation(self, rid, limits, tokens, cost, day, month, now + lease_ms))

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        d_tokens = tokens - reservation.tokens
        d_cost = cost - reservation.cost
        todo = [
            e
            for e in reservation.limits.entries
            if e.code == SLOTS
            or (d_tokens and (e.code == RATE_TOKENS or e.code == BUDGET_TOKENS))
            or (d_cost and e.code == BUDGET_COST)
        ]
        if todo:
            keys = self._keys(todo, reservation.day, reservation.month)
            spec = " ".join(e.spec for e in todo)
            await self._eval(lua.RECONCILE, keys, (self._clock(), reservation.id, d_tokens, d_cost, spec))

    def _keys(self, entries: tuple[Entry, ...] | list[Entry], day: str, month: str) -> list[str]:
        prefix = self._prefix
        return [
            prefix + e.key
            if e.window == NO_WINDOW
            else f"{prefix}{e.key}:{day if e.window == DAY else month}"
            for e in entries
        ]

    async def _eval(self, source: str, keys: list[str], args: tuple[int | str, ...]) -> Any:
        try:
            try:
                return await self._client.evalsha(self._scripts[source], len(keys), *keys, *args)
            except NoScriptError:
                return await self._client.eval(source, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc


class Subject:
    """One client under test: its limiter, and a bare round trip for the floor."""

    def __init__(self, name: str, url: str, prefix: str) -> None:
        self.name = name
        if name == "redis-py":
            # As the old connect(): no retries, the limiter's short timeouts (generous here); but its pool
            # of 64 overflows (MaxConnectionsError) in the gateway mode at 32 tasks, where settlement
            # tasks pile up behind a saturated loop, each holding a connection.
            rp = Redis.from_url(
                url,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 0),
                max_connections=1000,
            )
            self.ping: Callable[[], Awaitable[Any]] = rp.ping
            self.aclose: Callable[[], Awaitable[None]] = rp.aclose
            shared: Any = LegacyRedisBackend(rp, prefix)
        else:
            client: RedisClient = connect(url, timeout=1.0)
            self.ping, self.aclose = client.ping, client.aclose
            shared = RedisBackend(client, prefix=prefix)
        self.limiter = RateLimiter(MemoryBackend(), shared, timeout=1.0)
        self.shared = shared


async def run_pairs(
    s: Subject, limits: LimitSet, n: int, tasks: int, gateway: bool
) -> tuple[float, float, float]:
    """(CPU µs per pair, of which user, pairs per second) for n pairs over ``tasks`` concurrent tasks. ``gateway``:
    settle as the return path does (brutor/pipeline/egress.py: ``settle_now``, else ``reconcile`` in a
    task, not awaited by the request); otherwise reserve, then await reconcile."""
    left = n
    limiter, pending = s.limiter, set()
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            d = await limiter.reserve(limits, tokens=500, cost=0, lease=600)
            r = d.reservation
            assert r is not None and r.backend is s.shared, d
            if not gateway:
                await limiter.reconcile(r, tokens=300, cost=0)
            elif not limiter.settle_now(r, tokens=300, cost=0):
                task = loop.create_task(limiter.reconcile(r, tokens=300, cost=0))
                pending.add(task)
                task.add_done_callback(pending.discard)

    cpu, w0 = Cpu(), time.perf_counter()
    if tasks == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(tasks)))
    while pending:
        await asyncio.gather(*pending)
    await s.ping()  # settlements queued without a task are answered before this
    (total, user), w1 = cpu.per(n), time.perf_counter()
    assert limiter.stats.redis_errors == 0 and limiter.stats.lost_settlements == 0, limiter.stats
    return total, user, n / (w1 - w0)


async def run_pings(s: Subject, n: int) -> tuple[float, float]:
    cpu = Cpu()
    for _ in range(n):
        await s.ping()
    return cpu.per(n)


async def bench(url: str, n: int, rounds: int, concurrency: int) -> None:
    limits = governed_limits()
    prefix = f"brutor:rl:bench-{uuid.uuid4().hex[:8]}:"
    subjects = [Subject(name, url, prefix) for name in ("redis-py", "resp")]
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for s in subjects:  # connect, load the scripts, warm up
            await s.ping()
            await run_pairs(s, limits, 500, 1, True)
        modes = [
            (
                f"{'gateway' if gateway else 'awaited'}, {'sequential' if tasks == 1 else f'{tasks} tasks'}",
                tasks,
                gateway,
            )
            for gateway in (False, True)
            for tasks in (1, concurrency)
        ]
        for _ in range(rounds):
            for s in subjects:
                for mode, tasks, gateway in modes:
                    total, user, rate = await run_pairs(s, limits, n, tasks, gateway)
                    results.setdefault((s.name, mode), []).append(total)
                    results.setdefault((s.name, mode + " user"), []).append(user)
                    results.setdefault((s.name, mode + " rate"), []).append(rate)
                total, user = await run_pings(s, n)
                results.setdefault((s.name, "bare PING, sequential"), []).append(total)
                results.setdefault((s.name, "bare PING, sequential user"), []).append(user)
    finally:
        for s in subjects:
            await s.aclose()
        cleanup = connect(url, timeout=2.0)
        cursor: bytes = b"0"
        while True:
            cursor, keys = await cleanup.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            if keys:
                await cleanup.execute("DEL", *keys)
            if cursor == b"0":
                break
        await cleanup.aclose()

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"limits: {limits}")
    print(f"{n} pairs per run, median of {rounds} interleaved rounds\n")
    print("µs CPU per pair (of which user); the rest is system time, mostly loopback TCP\n")
    print("| mode | redis-py | resp | ratio | redis-py pairs/s | resp pairs/s |")
    print("|---|---|---|---|---|---|")
    for mode in [m for m, _, _ in modes] + ["bare PING, sequential"]:
        a, b = med[("redis-py", mode)], med[("resp", mode)]
        ua, ub = med[("redis-py", mode + " user")], med[("resp", mode + " user")]
        rates = "| | |"
        if (ra := med.get(("redis-py", mode + " rate"))) and (rb := med.get(("resp", mode + " rate"))):
            rates = f"| {ra:,.0f} | {rb:,.0f} |"
        print(f"| {mode} | {a:.1f} ({ua:.1f}) | {b:.1f} ({ub:.1f}) | {a / b:.2f}x {rates}")


async def stage_run(
    subject: Subject | None, limits: Limits, cfg: GatewayConfig, headers: dict[str, str], n: int, settle: bool
) -> tuple[float, float]:
    """One timed run of ``stages``: n requests through identify and authorize, settled or not."""
    identify = Identify(cfg.keys, JwtAuthenticator(cfg.jwt))
    authorize = Authorize(cfg.keys, cfg.jwt.issuers, limits)
    limiter, held, pending = limits.limiter, [], set()
    cpu = Cpu()
    for _ in range(n):
        ctx = RequestContext("r", headers)
        await identify(ctx)
        ctx.call = STAGE_CALL
        await authorize(ctx)
        assert ctx.reservation is not None
        reservation = ctx.reservation[1]
        if not settle:
            held.append(reservation)
        elif not limiter.settle_now(reservation, tokens=120):  # as brutor/pipeline/egress.py
            task = asyncio.get_running_loop().create_task(limiter.reconcile(reservation, tokens=120))
            pending.add(task)
            task.add_done_callback(pending.discard)
    while pending:
        await asyncio.gather(*pending)
    if subject is not None:
        await subject.ping()  # settlements queued without a task are answered before this
    result = cpu.per(n)
    for reservation in held:  # untimed
        await limiter.reconcile(reservation, tokens=120)
    assert limiter.stats.redis_errors == 0 and limiter.stats.fallbacks == 0, limiter.stats
    return result


async def stages(url: str, rounds: int, n: int = 5000) -> None:
    """Identify + authorize (+ settle, as the return path does) per request, as bench/stages.py but in
    CPU time and with the limits of its JWT row on each backend: the issue's ≤ 40 µs budget."""
    sys.path.insert(0, str(Path(__file__).parent))
    from stages import config  # bench/stages.py: the same gateway config

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    cfg = config(f.name, True)
    claims = {
        "iss": "https://idp",
        "aud": "b",
        "sub": "alice",
        "tenant": "acme",
        "exp": int(time.time()) + 3600,
    }
    headers = {"authorization": f"Bearer {pyjwt.encode(claims, key, 'RS256')}"}
    prefix = f"brutor:rl:bench-{uuid.uuid4().hex[:8]}:"
    subjects = {"in-memory": None, **{name: Subject(name, url, prefix) for name in ("redis-py", "resp")}}
    samples: dict[tuple[str, bool], list[tuple[float, float]]] = {}

    for _ in range(rounds):
        for name, subject in subjects.items():
            limiter = subject.limiter if subject is not None else RateLimiter(MemoryBackend())
            limits = Limits(
                limiter, LimitPolicy(cfg), cfg.limits.default_max_tokens, cfg.limits.lease_seconds
            )
            for settle in (False, True):
                samples.setdefault((name, settle), []).append(
                    await stage_run(subject, limits, cfg, headers, n, settle)
                )
    for subject in subjects.values():
        if subject is not None:
            await subject.aclose()
    print(f"\nJWT RS256 (cache hit) + 4 limits, {n} sequential requests, µs CPU per request (of which user):")
    print("| limits on | identify + authorize | identify + authorize + settle |\n|---|---|---|")
    for name in subjects:
        cells = [
            f"{statistics.median(v[0] for v in values):.1f} ({statistics.median(v[1] for v in values):.1f})"
            for values in (samples[(name, False)], samples[(name, True)])
        ]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    ap.add_argument("-n", type=int, default=4000, help="pairs per run")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--stages", action="store_true", help="also identify + authorize per request")
    args = ap.parse_args()

    async def everything() -> None:
        await bench(args.url, args.n, args.rounds, args.concurrency)
        if args.stages:
            await stages(args.url, args.rounds)

    coro = everything()
    print(f"event loop: {args.loop}")
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


if __name__ == "__main__":
    main()
