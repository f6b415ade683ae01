#!/usr/bin/env python3
"""Brutor benchmark runner (stdlib + orjson). Method: ../shared/design/PERFORMANCE.md.

One invocation starts an nginx mock upstream, then for each target (wrk -> nginx directly, the bare
granian+pyreqwest passthrough, Brutor, LiteLLM) checks correctness with one real request, warms up,
and measures with wrk: non-stream and stream throughput at -c32, and p50/p99 latency at -c1, taking the
median of --repeats runs. The server under test is pinned to core 0, nginx and wrk to core 1. Every
wrk response body is checked (bench/wrk/common.lua); RPS counts good responses only.

    source /work/venv/bin/activate
    python bench/run.py --repeats 3 --write-results          # full run (~15 min)
    python bench/run.py --duration 5 --repeats 1 --targets direct,passthrough   # quick look

Writes bench/out/<timestamp>.md; --write-results replaces (or appends) a section of bench/RESULTS.md.
Every process it starts is bound to 127.0.0.1 and stopped on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "0"
LOAD_CPU = "1"
NOISY_PCT = 10.0  # flag a target when other processes used more than this % of a core during a run
ALL_TARGETS = (
    "direct",
    "passthrough",
    "bare",
    "brutor",
    "pgaudit",
    "traced",
    "pii",
    "governed",
    "anthropic",
    "bedrock",
    "litellm",
)
LABELS = {
    "direct": "wrk → nginx directly",
    "passthrough": "bare passthrough (granian RSGI + pyreqwest)",
    "bare": "Brutor, audit + metrics off",
    "brutor": "Brutor (defaults: audit to SQLite + metrics)",
    "pgaudit": "Brutor, audit to PostgreSQL + metrics",
    "traced": "Brutor + tracing 100 % (OTLP)",
    "pii": "Brutor + PII scan of requests and responses",
    "governed": "Brutor + RS256 JWT + 4 Redis limits",
    "anthropic": "Brutor → Anthropic Messages (translated)",
    "bedrock": "Brutor → Bedrock Converse (translated, SigV4)",
    "litellm": "LiteLLM proxy 1.110.2",
}


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    dir: Path
    chat: bytes
    sse: bytes
    request: bytes
    request_stream: bytes

    @property
    def chat_content(self) -> str:
        return str(orjson.loads(self.chat)["choices"][0]["message"]["content"])

    @property
    def sse_content(self) -> str:
        return "".join(_chunk_text(ev) for ev in _sse_events(self.sse) if ev != "[DONE]")

    @property
    def sse_chunks(self) -> int:
        return sum(1 for ev in _sse_events(self.sse) if ev != "[DONE]")


def find_data(explicit: str | None) -> Data:
    candidates = [Path(explicit)] if explicit else [BENCH / "data", REPO.parent / "shared" / "peerbench"]
    for d in candidates:
        if (d / "chat.json").is_file() and (d / "stream.sse").is_file():
            return Data(
                dir=d.resolve(),
                chat=(d / "chat.json").read_bytes().strip(),
                sse=(d / "stream.sse").read_bytes(),
                request=(d / "request.json").read_bytes().strip(),
                request_stream=(d / "request_stream.json").read_bytes().strip(),
            )
    sys.exit(f"benchmark data not found in {', '.join(map(str, candidates))} (use --data DIR)")


def _sse_events(raw: bytes) -> Iterator[str]:
    """Yield each event's data payload (joined data: lines) from an SSE body."""
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        lines = [ln[5:].lstrip() for ln in block.split(b"\n") if ln.startswith(b"data:")]
        if lines:
            yield b"\n".join(lines).decode()


def _chunk_text(event: str) -> str:
    obj = orjson.loads(event)
    if "error" in obj:
        raise ValueError(f"error event in stream: {event[:200]}")
    if obj.get("object") != "chat.completion.chunk":
        raise ValueError(f"not a chat.completion.chunk: {event[:200]}")
    return "".join((c.get("delta") or {}).get("content") or "" for c in obj.get("choices") or [])


# ---------------------------------------------------------------------------------------- processes


class Proc:
    """A child process in its own session (so its whole group can be stopped), output to a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name, self.argv, self.log = name, argv, log
        self._logf = log.open("wb")
        self.p = subprocess.Popen(
            argv,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        # descendants that left the group (setsid) would survive killpg: remember them first
        stray = [(pid, _start_time(pid)) for pid in tree_pids(self.p.pid)[1:]] if self.alive() else []
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        # the group may outlive its leader (workers); make sure nothing of ours is left
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.p.pid, signal.SIGKILL)
        for pid, started in stray:
            if started is not None and _start_time(pid) == started:  # same process, not a reused pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self._logf.close()

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _start_time(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: Proc, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            return False
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def tree_pids(root: int) -> list[int]:
    kids, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def tree_rss_kb(root: int) -> tuple[int, int]:
    """(sum, max) of VmRSS over the process tree, in kB."""
    values = []
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    values.append(int(line.split()[1]))
    return (sum(values), max(values)) if values else (0, 0)


def machine_user_steal_ticks() -> int:
    """User + nice + steal jiffies of all CPUs from /proc/stat.

    Kernel time is left out on purpose: loopback networking of the benchmark's own traffic is largely
    accounted as softirq/system time, not to any process, so only user time can be attributed.
    """
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return f[0] + f[1] + f[7]


def tree_cpu_ticks(root: int, *, user_only: bool = False) -> int:
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + (0 if user_only else int(fields[12]))  # utime (+ stime)
    return total


def pinned(cpu: str, argv: list[str], enabled: bool) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if enabled else argv


# ------------------------------------------------------------------------------------ correctness


def _post(url: str, body: bytes, key: str, timeout: float = 30.0) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def check_plain(url: str, body: bytes, key: str, data: Data) -> tuple[int, str]:
    """Return (body length, problem or '')."""
    status, raw = _post(url, body, key)
    if status != 200:
        return len(raw), f"status {status}: {raw[:300]!r}"
    try:
        obj = orjson.loads(raw)
        content = obj["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        return len(raw), f"bad chat.completion ({exc}): {raw[:300]!r}"
    if obj.get("object") != "chat.completion" or content != data.chat_content:
        return len(raw), f"unexpected body: {raw[:300]!r}"
    return len(raw), ""


def check_stream(url: str, body: bytes, key: str, data: Data, exact_chunks: bool = True) -> tuple[int, str]:
    status, raw = _post(url, body, key)
    if status != 200:
        return len(raw), f"status {status}: {raw[:300]!r}"
    events = list(_sse_events(raw))
    if not events or events[-1] != "[DONE]":
        return len(raw), f"stream does not end with [DONE]: ...{raw[-200:]!r}"
    try:
        text = "".join(_chunk_text(ev) for ev in events[:-1])
    except (ValueError, orjson.JSONDecodeError) as exc:
        return len(raw), f"bad chunk: {exc}"
    if text != data.sse_content:
        return len(raw), f"streamed content differs: {text[:120]!r}"
    if exact_chunks and len(events) - 1 != data.sse_chunks:
        return len(raw), f"{len(events) - 1} chunks, expected {data.sse_chunks}"
    return len(raw), ""


# ------------------------------------------------------------------------------------------- wrk

_RESULT = re.compile(r"^BENCH_RESULT (.*)$", re.M)


@dataclass
class WrkRun:
    rps: float  # good responses per second
    requests: int
    bad: int  # bad bodies/statuses + socket errors
    p50_ms: float
    p99_ms: float
    cpu_us: float | None  # server-tree CPU per good request
    foreign_pct: float = 0.0  # user CPU of other processes (+ steal) during the run, % of one core
    first_bad: str = ""


def run_wrk(
    url: str,
    mode: str,
    conns: int,
    duration: float,
    env: dict[str, str],
    *,
    pin: bool,
    timeout: str,
    server_pid: int | None,
    nginx_pid: int | None = None,
) -> WrkRun:
    script = BENCH / "wrk" / f"{mode}.lua"
    argv = pinned(
        LOAD_CPU,
        [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{duration:g}s",
            f"--timeout={timeout}",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        pin,
    )
    ours = [p for p in {server_pid, nginx_pid} if p]

    def snapshot() -> tuple[int, int, float, float]:
        return (
            tree_cpu_ticks(server_pid) if server_pid else 0,
            sum(tree_cpu_ticks(p, user_only=True) for p in ours),
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime * CLK_TCK,  # finished wrk runs
            time.monotonic(),
        )

    busy0, (cpu0, our0, wrk0, t0) = machine_user_steal_ticks(), snapshot()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60, check=False)
    busy1, (cpu1, our1, wrk1, t1) = machine_user_steal_ticks(), snapshot()
    foreign = (busy1 - busy0) - (our1 - our0) - (wrk1 - wrk0)
    foreign_pct = max(0.0, foreign / CLK_TCK / (t1 - t0) * 100)
    m = _RESULT.search(out.stdout)
    if not m:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    kv = {
        k: float(v)
        for k, v in (item.split("=", 1) for item in m.group(1).split() if "=" in item)
        if k != "mode"
    }
    errors = sum(kv[k] for k in ("err_connect", "err_read", "err_write", "err_timeout"))
    good = int(kv["good"])
    first_bad = ""
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_FIRST_BAD "):
            first_bad = line[16:]
    cpu_us = (cpu1 - cpu0) / CLK_TCK / good * 1e6 if server_pid and good else None
    return WrkRun(
        rps=good / (kv["duration_us"] / 1e6),
        requests=int(kv["requests"]),
        bad=int(kv["bad"] + errors),
        p50_ms=kv["p50_us"] / 1000,
        p99_ms=kv["p99_us"] / 1000,
        foreign_pct=foreign_pct,
        cpu_us=cpu_us,
        first_bad=first_bad,
    )


# --------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    key: str
    label: str
    url_plain: str
    url_stream: str
    api_key: str
    model_plain: str = ""  # "" keeps the request body's model
    model_stream: str = ""
    conns: int = 32
    wrk_timeout: str = "10s"
    start: Callable[[Context], Proc | None] | None = None  # None: nothing to start (direct)
    pid: Callable[[], int | None] = lambda: None
    note: str = ""
    # Translated streams carry the same text in a different number of chunks (role, finish chunks).
    exact_chunks: bool = True


@dataclass
class Result:
    target: Target
    status: str = "ok"  # ok | skipped | failed
    note: str = ""
    plain: list[WrkRun] = field(default_factory=list)
    stream: list[WrkRun] = field(default_factory=list)
    plain_c1: list[WrkRun] = field(default_factory=list)
    stream_c1: list[WrkRun] = field(default_factory=list)
    saturation: dict[str, WrkRun] = field(default_factory=dict)
    rss_kb: tuple[int, int] | None = None


@dataclass
class Context:
    args: argparse.Namespace
    data: Data
    tmp: Path
    nginx_port: int
    pin: bool
    procs: list[Proc] = field(default_factory=list)
    deadline: float = 0.0
    nginx_pid: int | None = None

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Proc:
        p = Proc(name, argv, self.tmp / f"{name}.log", env=env, cwd=cwd)
        self.procs.append(p)
        return p

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"


def write_translated_upstreams(prefix: Path, data: Data) -> None:
    """The same answers as chat.json / stream.sse in Anthropic's and Bedrock's wire formats, for nginx to
    serve: the translated targets must produce exactly the OpenAI target's text."""
    sys.path.insert(0, str(BENCH))
    from translate import anthropic_stream, bedrock_stream

    # nginx's workers run unprivileged: the (0700) temp dir must be traversable for them to read these.
    for d in (prefix.parent, prefix):
        d.chmod(0o755)
    texts = [_chunk_text(ev) for ev in _sse_events(data.sse) if ev != "[DONE]"]
    texts = [t for t in texts if t]
    (prefix / "anthropic.sse").write_bytes(b"".join(anthropic_stream(texts)))
    (prefix / "bedrock.bin").write_bytes(b"".join(bedrock_stream(texts)))
    usage = {"input_tokens": 42, "output_tokens": 100}
    (prefix / "anthropic.json").write_bytes(
        orjson.dumps(
            {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [{"type": "text", "text": data.chat_content}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )
    )
    (prefix / "bedrock.json").write_bytes(
        orjson.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": data.chat_content}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 42, "outputTokens": 100, "totalTokens": 142},
                "metrics": {"latencyMs": 100},
            }
        )
    )


def start_nginx(ctx: Context) -> Proc:
    prefix = ctx.tmp / "nginx"
    prefix.mkdir()
    chat = ctx.data.chat.decode()
    if "'" in chat or "\\" in chat:
        sys.exit("chat.json holds a quote or backslash; the nginx template inlines it in single quotes")
    conf = (BENCH / "nginx.conf.tmpl").read_text()
    for k, v in {
        "PREFIX": str(prefix),
        "PORT": str(ctx.nginx_port),
        "DATA": str(ctx.data.dir),
        "CHAT_JSON": chat,
    }.items():
        conf = conf.replace(f"@@{k}@@", v)
    (prefix / "nginx.conf").write_text(conf)
    write_translated_upstreams(prefix, ctx.data)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = ctx.spawn(
        "nginx",
        pinned(
            LOAD_CPU,
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
            ctx.pin,
        ),
    )
    if not wait_port(ctx.nginx_port, proc, 10):
        sys.exit(f"nginx did not start:\n{proc.tail()}\n{(prefix / 'error.log').read_text(errors='replace')}")
    return proc


def _venv_bin(name: str) -> str | None:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def start_passthrough(ctx: Context, port: int) -> Proc | None:
    granian = _venv_bin("granian")
    if not granian:
        return None
    env = {**os.environ, "BENCH_UPSTREAM": ctx.upstream}
    argv = [
        granian,
        "--interface",
        "rsgi",
        "--loop",
        "uvloop",
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "passthrough:app",
    ]
    return ctx.spawn("passthrough", pinned(SERVER_CPU, argv, ctx.pin), env=env, cwd=BENCH)


# Environment switches of bench/brutor.yaml per variant.
VARIANTS = {
    "bare": {"BENCH_AUDIT": "off", "BENCH_METRICS": "false"},
    "brutor": {},
    "pgaudit": {"BENCH_AUDIT": "postgres", "BENCH_PG_SCHEMA": f"brutor_bench_{os.getpid()}"},
    "traced": {"BENCH_TRACING": "true"},
    "pii": {"BENCH_PII": "true"},
    # Same config as "brutor"; the target's models route to the translated providers.
    "anthropic": {},
    "bedrock": {},
}
VARIANT_MODELS = {
    "anthropic": ("bench-anthropic-plain", "bench-anthropic-stream"),
    "bedrock": ("bench-bedrock-plain", "bench-bedrock-stream"),
}


def brutor_starter(name: str) -> Callable[[Context, int], Proc | None]:
    def start(ctx: Context, port: int) -> Proc | None:
        brutor = ctx.args.brutor_bin or _venv_bin("brutor")
        if not brutor or not Path(brutor).exists():
            return None
        env = {
            **os.environ,
            "BENCH_NGINX_PORT": str(ctx.nginx_port),
            "BRUTOR_DATA_DIR": str(ctx.tmp / "brutor-data" / name),
            **VARIANTS[name],
        }
        argv = [
            brutor,
            "serve",
            "--config",
            str(BENCH / "brutor.yaml"),
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        return ctx.spawn(name, pinned(SERVER_CPU, argv, ctx.pin), env=env, cwd=REPO)

    return start


def governed_token(ctx: Context) -> str:
    """An RS256 key pair for the governed target: the public half as a PEM file, a token signed with the
    private half (valid for the whole run, so the gateway's verified-token cache serves it)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (ctx.tmp / "bench-jwt.pem").write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    now = int(time.time())
    claims = {"iss": "https://idp.bench.local", "aud": "brutor", "sub": "bench-user", "iat": now}
    return jwt.encode({**claims, "exp": now + 6 * 3600, "groups": ["bench"]}, key, algorithm="RS256")


def start_governed(ctx: Context, port: int) -> Proc | None:
    brutor = ctx.args.brutor_bin or _venv_bin("brutor")
    if not brutor or not Path(brutor).exists():
        return None
    env = {
        **os.environ,
        "BENCH_NGINX_PORT": str(ctx.nginx_port),
        "BENCH_JWT_PEM": str(ctx.tmp / "bench-jwt.pem"),
        "BRUTOR_DATA_DIR": str(ctx.tmp / "brutor-data" / "governed"),
    }
    config = str(BENCH / "brutor-governed.yaml")
    argv = [brutor, "serve", "--config", config, "--port", str(port), "--workers", "1"]
    return ctx.spawn("governed", pinned(SERVER_CPU, argv, ctx.pin), env=env, cwd=REPO)


def start_litellm(ctx: Context, port: int) -> Proc | None:
    exe = Path(ctx.args.litellm_venv) / "bin" / "litellm"
    if not exe.exists():
        return None
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        {
            "BENCH_PLAIN_BASE": f"{ctx.upstream}/plain/v1",
            "BENCH_STREAM_BASE": f"{ctx.upstream}/stream/v1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "PATH": f"{exe.parent}:{env.get('PATH', '')}",
        }
    )
    argv = [
        str(exe),
        "--config",
        str(BENCH / "litellm-config.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
        "--telemetry",
        "False",
    ]
    return ctx.spawn("litellm", pinned(SERVER_CPU, argv, ctx.pin), env=env, cwd=ctx.tmp)


def make_targets(ctx: Context, nginx: Proc) -> list[Target]:
    up = ctx.upstream
    ports = {k: free_port() for k in ALL_TARGETS}

    def server_target(
        key: str, label: str, starter: Callable[[Context, int], Proc | None], **kw: Any
    ) -> Target:
        port = ports[key]
        holder: dict[str, Proc | None] = {}

        def start(c: Context) -> Proc | None:
            holder["p"] = starter(c, port)
            return holder["p"]

        def pid() -> int | None:
            p = holder.get("p")
            return p.pid if p else None

        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return Target(key, label, url, url, start=start, pid=pid, **kw)

    lite_c = ctx.args.litellm_connections
    return [
        Target(
            "direct",
            LABELS["direct"],
            f"{up}/v1/chat/completions",
            f"{up}/stream/v1/chat/completions",
            api_key="sk-bench-0123456789",
            pid=lambda: nginx.pid,
            note="no server under test: nginx shares core 1 with wrk; CPU column is nginx's",
        ),
        server_target("passthrough", LABELS["passthrough"], start_passthrough, api_key="sk-bench-0123456789"),
        *(
            server_target(
                name,
                LABELS[name],
                brutor_starter(name),
                api_key="sk-bench-0123456789",
                model_plain=VARIANT_MODELS.get(name, ("bench-plain", "bench-stream"))[0],
                model_stream=VARIANT_MODELS.get(name, ("bench-plain", "bench-stream"))[1],
                exact_chunks=name not in VARIANT_MODELS,
            )
            for name in VARIANTS
        ),
        server_target(
            "governed",
            LABELS["governed"],
            start_governed,
            api_key=governed_token(ctx) if "governed" in ctx.args.targets else "",
            model_plain="bench-plain",
            model_stream="bench-stream",
        ),
        server_target(
            "litellm",
            LABELS["litellm"],
            start_litellm,
            api_key="sk-bench-1234",
            model_stream="gpt-4o-mini-stream",
            conns=lite_c,
            wrk_timeout="60s",
            note=f"LiteLLM runs at -c{lite_c} (≈40 RPS: c32 would only queue)",
        ),
    ]


def request_body(raw: bytes, model: str) -> bytes:
    if not model:
        return raw
    obj = orjson.loads(raw)
    obj["model"] = model
    return orjson.dumps(obj)


def wait_ready(ctx: Context, t: Target, proc: Proc, body: bytes) -> str:
    """Poll the correctness check until the server answers (start-up may take seconds); '' when ready."""
    port = int(t.url_plain.split(":")[2].split("/")[0])
    limit = ctx.args.startup_timeout * (4 if t.key == "litellm" else 1)
    if not wait_port(port, proc, limit):
        return f"did not listen on {port} within {limit:g}s:\n{proc.tail()}"
    deadline, problem = time.monotonic() + 30, "not checked"
    while time.monotonic() < deadline and proc.alive():
        try:
            _, problem = check_plain(t.url_plain, body, t.api_key, ctx.data)
        except OSError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if not problem:
            return ""
        time.sleep(0.5)
    return f"{problem}\n{proc.tail()}"


def time_left(ctx: Context) -> float:
    return ctx.deadline - time.monotonic()


def prepare(ctx: Context, t: Target, urls: dict[str, str]) -> tuple[dict[str, dict[str, str]], str]:
    """Correctness-check both modes, then build each mode's wrk environment; ({}, problem) on failure."""
    bodies = {
        "plain": request_body(ctx.data.request, t.model_plain),
        "stream": request_body(ctx.data.request_stream, t.model_stream),
    }
    env: dict[str, dict[str, str]] = {}
    for mode in ("plain", "stream"):
        if mode == "plain":
            n, problem = check_plain(urls[mode], bodies[mode], t.api_key, ctx.data)
        else:
            n, problem = check_stream(urls[mode], bodies[mode], t.api_key, ctx.data, t.exact_chunks)
        if problem:
            return {}, f"correctness check ({mode}) failed: {problem}"
        body_file = ctx.tmp / f"{t.key}-{mode}.json"
        body_file.write_bytes(bodies[mode])
        env[mode] = {
            **os.environ,
            "BENCH_BODY_FILE": str(body_file),
            "BENCH_KEY": t.api_key,
            "BENCH_MIN_LEN": str(int(n * 0.9)),  # every wrk body must be >= 90% of the checked one
        }
    return env, ""


def measure(ctx: Context, t: Target, res: Result) -> None:
    a = ctx.args
    urls = {"plain": t.url_plain, "stream": t.url_stream}
    env, problem = prepare(ctx, t, urls)
    if problem:
        res.status, res.note = "failed", problem
        return
    server_pid = t.pid()

    def wrk(mode: str, conns: int, duration: float) -> WrkRun:
        """One timed run; rerun (up to --noisy-retries) while other processes ate > NOISY_PCT of a core."""
        attempts: list[WrkRun] = []
        while True:
            r = run_wrk(
                urls[mode],
                mode,
                conns,
                duration,
                env[mode],
                pin=ctx.pin,
                timeout=t.wrk_timeout,
                server_pid=server_pid,
                nginx_pid=ctx.nginx_pid,
            )
            attempts.append(r)
            noisy = r.foreign_pct > NOISY_PCT
            print(
                f"    {t.key:<12} {mode:<6} c{conns:<4} {r.rps:>10,.0f} rps  p50 {r.p50_ms:7.2f} ms  "
                f"p99 {r.p99_ms:7.2f} ms  bad {r.bad}  other CPU {r.foreign_pct:3.0f}%"
                + (" (noisy)" if noisy else "")
                + (f"  first bad: {r.first_bad}" if r.first_bad else ""),
                flush=True,
            )
            if not noisy or len(attempts) > a.noisy_retries or time_left(ctx) < duration + 30:
                break
        best = min(attempts, key=lambda x: x.foreign_pct)
        # bad responses count whichever attempt is kept: correctness is never retried away
        best.bad = sum(x.bad for x in attempts)
        best.first_bad = next((x.first_bad for x in attempts if x.first_bad), "")
        return best

    if a.warmup > 0:
        print(f"    {t.key:<12} warm-up {a.warmup:g}s", flush=True)
        for mode in ("plain", "stream"):
            run_wrk(
                urls[mode],
                mode,
                t.conns,
                a.warmup,
                env[mode],
                pin=ctx.pin,
                timeout=t.wrk_timeout,
                server_pid=None,
            )
    per_repeat = 2 * a.duration + 2 * a.c1_duration
    for i in range(a.repeats):
        if time_left(ctx) < per_repeat + 30:
            res.note += f" stopped after {i} repeat(s): --max-minutes reached."
            break
        res.plain.append(wrk("plain", t.conns, a.duration))
        res.stream.append(wrk("stream", t.conns, a.duration))
        res.plain_c1.append(wrk("plain", 1, a.c1_duration))
        res.stream_c1.append(wrk("stream", 1, a.c1_duration))
    if a.saturation and t.key != "litellm" and time_left(ctx) > 2 * a.duration + 30:
        res.saturation = {m: wrk(m, 128, a.duration) for m in ("plain", "stream")}
    if server_pid and t.key != "direct":
        res.rss_kb = tree_rss_kb(server_pid)


def run_target(ctx: Context, t: Target) -> Result:
    res = Result(t, note=t.note)
    print(f"== {t.label}", flush=True)
    proc = t.start(ctx) if t.start else None
    try:
        if t.start and proc is None:
            why = {
                "brutor": "`brutor` CLI not found in the venv (not built yet?)",
                "litellm": f"no LiteLLM venv at {ctx.args.litellm_venv}",
                "passthrough": "granian not found",
            }.get(t.key, "command missing")
            res.status, res.note = "skipped", why
            print(f"   skipped: {why}", flush=True)
            return res
        if proc is not None:
            problem = wait_ready(ctx, t, proc, request_body(ctx.data.request, t.model_plain))
            if problem:
                res.status, res.note = "failed", f"not ready: {problem}"
                print(f"   FAILED: {res.note}", flush=True)
                return res
        measure(ctx, t, res)
        if res.status != "ok":
            print(f"   FAILED: {res.note}", flush=True)
        return res
    finally:
        if proc is not None:
            proc.stop()


# ---------------------------------------------------------------------------------------- report


def med(runs: list[WrkRun], attr: str) -> float | None:
    vals = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, spec: str = ",.0f", suffix: str = "") -> str:
    return "—" if v is None else f"{v:{spec}}{suffix}"


def pair(a: float | None, b: float | None, spec: str) -> str:
    return "—" if a is None and b is None else f"{fmt(a, spec)} / {fmt(b, spec)}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    r = a / b
    return f"{r:,.0f}x" if r >= 10 else f"{r:.3f}" if r >= 0.01 else f"{r:.5f}"


def machine_info(ctx: Context) -> list[str]:
    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    def cmd(argv: list[str]) -> str:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lite_py = Path(ctx.args.litellm_venv) / "bin" / "python"
    lite = (
        cmd([str(lite_py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"])
        if lite_py.exists()
        else "absent"
    )
    rev = cmd(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return [
        f"- machine: {cmd(['nproc'])} cores, {cpu}, kernel {platform.release()}, load avg at start "
        f"{ctx.args.load_at_start}",
        f"- python {platform.python_version()}, granian {ver('granian')}, pyreqwest {ver('pyreqwest')}, "
        f"orjson {ver('orjson')}, brutor {ver('brutor')}, litellm {lite}; {cmd(['nginx', '-v'])}; "
        f"{cmd(['wrk', '-v'])}",
        f"- repo revision: {rev if re.fullmatch(r'[0-9a-f]{4,40}', rev) else 'no commit'}",
        f"- method: server under test on core {SERVER_CPU}, nginx + wrk on core {LOAD_CPU}"
        + ("" if ctx.pin else " (PINNING DISABLED)")
        + f"; wrk -t1 -c32 -d{ctx.args.duration:g}s (throughput), -c1 -d{ctx.args.c1_duration:g}s (latency); "
        f"median of {ctx.args.repeats}; warm-up {ctx.args.warmup:g}s; bodies checked, RPS = good responses/s",
    ]


def render(ctx: Context, results: list[Result], started: dt.datetime) -> str:
    by = {r.target.key: r for r in results}
    direct = by.get("direct")
    d50 = (med(direct.plain_c1, "p50_ms"), med(direct.stream_c1, "p50_ms")) if direct else (None, None)
    lines = [
        f"## Benchmark {started:%Y-%m-%d %H:%M} UTC",
        "",
        *machine_info(ctx),
        "",
        "| target | non-stream RPS c32 | stream RPS c32 | CPU µs/req (ns / s) | c1 p50 ms (ns / s) "
        "| c1 p99 ms (ns / s) | added p50 ms at c1 (ns / s) | RSS MB worker / tree | bad | other CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    noisy = []
    for r in results:
        if r.status != "ok":
            lines.append(f"| {r.target.label} | {r.status} | | | | | | | | |")
            continue
        runs = r.plain + r.stream + r.plain_c1 + r.stream_c1
        other = max((x.foreign_pct for x in runs), default=0.0)
        if other > NOISY_PCT:
            noisy.append(f"{r.target.key} ({other:.0f}%)")
        p50 = (med(r.plain_c1, "p50_ms"), med(r.stream_c1, "p50_ms"))
        added = (
            (None, None)
            if r.target.key == "direct" or None in d50 or None in p50
            else (p50[0] - d50[0], p50[1] - d50[1])
        )
        rss = "—" if not r.rss_kb else f"{r.rss_kb[1] / 1024:.0f} / {r.rss_kb[0] / 1024:.0f}"
        bad = sum(x.bad for x in r.plain + r.stream + r.plain_c1 + r.stream_c1)
        lines.append(
            f"| {r.target.label}{' (c' + str(r.target.conns) + ')' if r.target.conns != 32 else ''} "
            f"| {fmt(med(r.plain, 'rps'))} | {fmt(med(r.stream, 'rps'))} "
            f"| {pair(med(r.plain, 'cpu_us'), med(r.stream, 'cpu_us'), ',.0f')} "
            f"| {pair(*p50, '.2f')} "
            f"| {pair(med(r.plain_c1, 'p99_ms'), med(r.stream_c1, 'p99_ms'), '.2f')} "
            f"| {pair(*added, '.2f')} | {rss} | {bad}{' ⚠' if bad else ''} | {other:.0f} |"
        )
    lines += ["", *render_ratios(by), *render_saturation(results), "", "Notes:"]
    lines += [f"- {r.target.key}: {r.status}: {r.note.strip()}" for r in results if r.note.strip()]
    for r in results:
        first = next((x.first_bad for x in r.plain + r.stream + r.plain_c1 + r.stream_c1 if x.first_bad), "")
        if first:
            lines.append(f"- {r.target.key}: first bad response: {first}")
    if noisy:
        lines.append(
            f"- NOISY: other processes used more than {NOISY_PCT:.0f}% of a core during some runs of "
            f"{', '.join(noisy)} (column 'other CPU %' = max over runs); rerun on a quiet machine."
        )
    return "\n".join(lines) + "\n"


def render_ratios(by: dict[str, Result]) -> list[str]:
    def rps(key: str, mode: str) -> float | None:
        r = by.get(key)
        return med(getattr(r, mode), "rps") if r and r.status == "ok" else None

    rows = [(f"{LABELS[k]} / direct nginx", k, "direct") for k in ("passthrough", "brutor", "litellm")]
    rows += [("Brutor / passthrough", "brutor", "passthrough"), ("Brutor / LiteLLM", "brutor", "litellm")]
    rows += [
        ("Brutor defaults (audit + metrics) / bare", "brutor", "bare"),
        ("Brutor, audit to PostgreSQL + metrics / bare", "pgaudit", "bare"),
        ("Brutor + tracing 100 % / bare", "traced", "bare"),
        ("Brutor + PII scan / Brutor", "pii", "brutor"),
        ("Brutor governed (JWT + Redis limits) / Brutor", "governed", "brutor"),
        ("Anthropic translated / OpenAI relayed", "anthropic", "brutor"),
        ("Bedrock translated / OpenAI relayed", "bedrock", "brutor"),
    ]
    out = ["| ratio (RPS) | non-stream | stream |", "|---|---|---|"]
    for name, a, b in rows:
        out.append(
            f"| {name} | {ratio(rps(a, 'plain'), rps(b, 'plain'))} "
            f"| {ratio(rps(a, 'stream'), rps(b, 'stream'))} |"
        )
    return out


def render_saturation(results: list[Result]) -> list[str]:
    rows = [r for r in results if r.saturation]
    if not rows:
        return []
    out = [
        "",
        "| saturation c128 (once) | non-stream RPS | stream RPS | p99 ms (ns / s) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        s = r.saturation
        out.append(
            f"| {r.target.label} | {fmt(s['plain'].rps)} | {fmt(s['stream'].rps)} "
            f"| {s['plain'].p99_ms:.2f} / {s['stream'].p99_ms:.2f} |"
        )
    return out


def write_results(text: str, label: str) -> Path:
    path = BENCH / "RESULTS.md"
    begin, end = f"<!-- bench:{label}:begin -->", f"<!-- bench:{label}:end -->"
    block = f"{begin}\n{text}{end}\n"
    old = (
        path.read_text()
        if path.exists()
        else (
            "# Brutor benchmark results\n\nWritten by `python bench/run.py --write-results` "
            "(method: bench/README.md). Sections are replaced by label (`--label`).\n\n"
        )
    )
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) + 1 :]
    else:
        new = old.rstrip("\n") + "\n\n" + block
    path.write_text(new)
    return path


# ------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma list of %(default)s")
    p.add_argument("--duration", type=float, default=15, help="seconds per c32 run (default %(default)s)")
    p.add_argument("--c1-duration", type=float, default=None, help="seconds per c1 run (default: --duration)")
    p.add_argument("--repeats", type=int, default=3, help="median of N runs (default %(default)s)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per target and mode")
    p.add_argument(
        "--noisy-retries",
        type=int,
        default=1,
        help=f"rerun a run during which other processes used > {NOISY_PCT:.0f}%% of a core (default %(default)s)",
    )
    p.add_argument("--saturation", action="store_true", help="also run -c128 once per target")
    p.add_argument("--litellm-venv", default="/work/litellm-venv")
    p.add_argument("--litellm-connections", type=int, default=8)
    p.add_argument("--brutor-bin", default=None, help="path of the brutor CLI (default: the venv's)")
    p.add_argument(
        "--data", default=None, help="peerbench data dir (default bench/data or ../shared/peerbench)"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    p.add_argument("--startup-timeout", type=float, default=30)
    p.add_argument("--max-minutes", type=float, default=60, help="stop starting new runs after this")
    p.add_argument(
        "--write-results", action="store_true", help="replace/append a section of bench/RESULTS.md"
    )
    p.add_argument("--label", default="latest", help="RESULTS.md section label (default %(default)s)")
    a = p.parse_args(argv)
    a.c1_duration = a.c1_duration or a.duration
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    unknown = set(a.targets) - set(ALL_TARGETS)
    if unknown:
        p.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if a.repeats < 1 or a.duration <= 0:
        p.error("--repeats must be >= 1 and --duration > 0")
    return a


def drop_bench_schema(schema: str) -> None:
    """The pgaudit target's audit rows are the benchmark's, not anyone's: remove them."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(
            os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
        )
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    with contextlib.suppress(OSError, asyncpg.PostgresError):
        asyncio.run(drop())


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} not found (apt-get install wrk nginx-light)")
    pin = not args.no_pin and bool(shutil.which("taskset")) and len(os.sched_getaffinity(0)) >= 2
    args.load_at_start = Path("/proc/loadavg").read_text().split()[0]
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    started = dt.datetime.now(dt.UTC)
    tmp = Path(tempfile.mkdtemp(prefix="brutor-bench-"))
    ctx = Context(
        args, find_data(args.data), tmp, free_port(), pin, deadline=time.monotonic() + args.max_minutes * 60
    )
    results: list[Result] = []
    try:
        nginx = start_nginx(ctx)
        ctx.nginx_pid = nginx.pid
        print(f"nginx mock on 127.0.0.1:{ctx.nginx_port} (data {ctx.data.dir}); logs in {tmp}", flush=True)
        for t in make_targets(ctx, nginx):
            if t.key in args.targets:
                results.append(run_target(ctx, t))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process started", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        return 130
    finally:
        for p in reversed(ctx.procs):
            p.stop()
        if "pgaudit" in args.targets:
            drop_bench_schema(VARIANTS["pgaudit"]["BENCH_PG_SCHEMA"])
    text = render(ctx, results, started)
    print("\n" + text)
    out = BENCH / "out" / f"{started:%Y%m%dT%H%M%SZ}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"wrote {out.relative_to(REPO)}")
    if args.write_results:
        print(f"wrote {write_results(text, args.label).relative_to(REPO)} (section '{args.label}')")
    failed = any(r.status == "failed" for r in results)
    if failed:
        print(f"some target failed: logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
