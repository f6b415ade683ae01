"""Support code for Brutor's end-to-end tests: run ``brutor`` as a subprocess and talk raw HTTP/SSE.

Everything here uses the standard library only (``subprocess``, ``http.client``) so a failure points at
the gateway, not at a shared client stack.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import openai
import yaml

READY_TIMEOUT = 20.0

# Secrets used by the e2e configs. Each is distinctive so a leak is unambiguous.
TEAM_A_KEY = "sk-test-team-a-secret-11aa9f"
TEAM_B_KEY = "sk-test-team-b-secret-22bb8e"
TEAM_C_KEY = "sk-test-team-c-secret-33cc7d"
ADMIN_KEY = "sk-admin-secret-44dd6c5b"
BAD_UPSTREAM_KEY = "sk-upstream-wrong-55ee4a3b"
DEV_KEY = "sk-brutor-local-dev"

MAX_BODY_BYTES = 65536
SLOW_FIRST_BYTE_TIMEOUT = 0.8

# Models each key may see in /v1/models.
ALL_MODELS = {
    "gpt-4o-mini",
    "die-midstream",
    "rate-limited",
    "broken",
    "no-usage",
    "slow-stream",
    "slow-first-byte",
    "slow-patient",
    "unreachable",
    "bad-upstream-auth",
    "text-embedding-3-small",
    "offline/echo",
    "offline/embed",
}
TEAM_A_MODELS = {"gpt-4o-mini", "offline/echo", "offline/embed"}


OFFLINE_PREFIX = "This is Brutor's offline model. You said: "


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REPO_ROOT = Path(__file__).resolve().parents[2]


def brutor_cmd() -> list[str]:
    """How to invoke the ``brutor`` CLI: ``$BRUTOR_E2E_COMMAND`` if set (e.g. to test an installed build),
    else the console script of this interpreter's environment, else ``python -m brutor`` (with the
    repository on PYTHONPATH, see ``clean_env``)."""
    override = os.environ.get("BRUTOR_E2E_COMMAND")
    if override:
        return shlex.split(override)
    script = Path(sys.executable).parent / "brutor"
    if script.exists():
        return [str(script)]
    found = shutil.which("brutor")
    if found:
        return [found]
    return [sys.executable, "-m", "brutor"]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment minus anything that could change Brutor's or the SDK's behaviour."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRUTOR_", "OPENAI_")) and k != "PYTHONWARNINGS"
    }
    env["PYTHONUNBUFFERED"] = "1"
    if not os.environ.get("BRUTOR_E2E_COMMAND") and brutor_cmd()[0] == sys.executable:
        # not installed: run from the checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if extra:
        env.update(extra)
    return env


def run_cli(
    args: Iterable[str], env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*brutor_cmd(), *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def offline_answer(last_user_text: str) -> str:
    return OFFLINE_PREFIX + last_user_text


def word_count(text: str) -> int:
    return len(text.split())


def offline_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(word_count(m["content"]) for m in messages)


def offline_pieces(answer: str) -> list[str]:
    words = answer.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


# --------------------------------------------------------------------------------------------------
# raw HTTP
# --------------------------------------------------------------------------------------------------


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, complete: bool = True) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.complete = complete

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.body[:300]!r}>"


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    chunked: bool = False,
) -> RawResponse:
    """One request on a fresh connection; never raises for HTTP error statuses."""
    hdrs = dict(headers or {})
    data: bytes | None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
        hdrs.setdefault("Content-Type", "application/json")
    else:
        data = body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunked and data is not None:
            pieces = [data[i : i + 16384] for i in range(0, len(data), 16384)]
            conn.request(method, path, body=iter(pieces), headers=hdrs, encode_chunked=True)
        else:
            conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        complete = True
        try:
            payload = resp.read()
        except http.client.IncompleteRead as exc:
            payload = exc.partial
            complete = False
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload, complete)
    finally:
        conn.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sse_data(body: bytes) -> list[str]:
    """The ``data`` payload of every SSE event in a (possibly truncated) body."""
    text = body.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    events = []
    for block in text.split("\n\n"):
        lines = [ln[5:].removeprefix(" ") for ln in block.split("\n") if ln.startswith("data:")]
        if lines:
            events.append("\n".join(lines))
    return events


def sse_request(
    port: int, payload: dict[str, Any], key: str, timeout: float = 30.0
) -> tuple[RawResponse, list[str]]:
    resp = http_request(port, "POST", "/v1/chat/completions", payload, auth(key), timeout=timeout)
    return resp, sse_data(resp.body)


def assert_openai_error(
    resp: RawResponse, status: int, code: str | None = None, type_: str | None = None
) -> dict[str, Any]:
    """The response is ``status`` with an OpenAI-shaped JSON error body; returns the inner ``error``."""
    assert resp.status == status, resp
    assert "traceback" not in resp.text.lower(), resp.text
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and set(body) >= {"error"}, body
    err = body["error"]
    assert isinstance(err, dict), body
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"], err
    assert isinstance(err["type"], str) and err["type"], err
    if code is not None:
        assert err["code"] == code, err
    if type_ is not None:
        assert err["type"] == type_, err
    return err


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# the gateway process
# --------------------------------------------------------------------------------------------------


class GatewayProcess:
    """``brutor serve`` in a subprocess with its output captured to files in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any] | str | None,
        *,
        config_name: str = "brutor.yaml",
        args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = workdir / config_name
            text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
            self.config_path.write_text(text)
        self.args = list(args)
        # Spool, SQLite audit file and metrics stay inside the test's directory.
        self.env = clean_env({"BRUTOR_DATA_DIR": str(workdir / "data"), **(env or {})})
        self.stdout_path = workdir / "gateway.stdout.log"
        self.stderr_path = workdir / "gateway.stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        cmd = [*brutor_cmd(), "serve"]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return [*cmd, "--port", str(self.port), *self.args]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
            )
        return self.proc

    def start(self, timeout: float = READY_TIMEOUT) -> GatewayProcess:
        proc = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"brutor exited with {proc.returncode} before ready\n{self.logs()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_request(self.port, "GET", "/readyz", timeout=2).status == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"brutor not ready on port {self.port} after {timeout}s\n{self.logs()}")

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        # Reap any worker left behind in the session we created for it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def logs(self) -> str:
        return f"--- stdout ---\n{self.stdout()[-4000:]}\n--- stderr ---\n{self.stderr()[-4000:]}"

    def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> RawResponse:
        return http_request(self.port, method, path, body, headers, **kw)


def make_client(gw: GatewayProcess, key: str = TEAM_B_KEY, timeout: float = 30.0) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0, timeout=timeout)


def make_async_client(gw: GatewayProcess, key: str = TEAM_B_KEY, timeout: float = 30.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=gw.base_url, max_retries=0, timeout=timeout)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out
