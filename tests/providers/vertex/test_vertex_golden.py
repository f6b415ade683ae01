"""Golden tests: OpenAI request -> exact Vertex body; Vertex responses and streams -> exact OpenAI output.

The Vertex side of each case follows the shapes of Google's documented GenerateContentResponse examples
(``usageMetadata`` on every stream event, the full counts only on the last, ``thoughtSignature`` parts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from brutor._native import SseDecoder
from brutor.providers.vertex_request import build_request
from brutor.providers.vertex_response import StreamTranslator, chat_completion

GOLDEN = Path(__file__).parent / "golden"


def _cases(kind: str) -> list[Path]:
    paths = sorted(GOLDEN.glob(f"{kind}_*.json"))
    assert paths, f"no golden {kind} cases"
    return paths


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def sse_body(events: list[dict[str, Any]]) -> bytes:
    """Events framed as Vertex frames them (CRLF line ends)."""
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def frames(out: bytes) -> list[dict[str, Any]]:
    assert out.endswith(b"\n\n")
    blocks = out[:-2].split(b"\n\n")
    assert all(b.startswith(b"data: ") and b"\n" not in b for b in blocks), out
    return [json.loads(b[6:]) for b in blocks]


def translate(case: dict[str, Any], pieces: list[bytes]) -> bytes:
    translator = StreamTranslator(case["model"], case["include_usage"])
    decoder = SseDecoder()
    out = b"".join(translator.feed(decoder.feed(p)) for p in pieces)
    assert translator.done and translator.final_usage and translator.error is None
    return out + translator.usage_frame()


@pytest.mark.parametrize("path", _cases("request"), ids=lambda p: p.stem)
def test_request(path: Path) -> None:
    case = _load(path)
    assert build_request(case["openai"]) == case["vertex"]


@pytest.mark.parametrize("path", _cases("response"), ids=lambda p: p.stem)
def test_response(path: Path) -> None:
    case = _load(path)
    assert chat_completion(case["vertex"], case["model"]) == case["openai"]


@pytest.mark.parametrize("path", _cases("stream"), ids=lambda p: p.stem)
def test_stream(path: Path) -> None:
    case = _load(path)
    body = sse_body(case["vertex_events"])
    assert frames(translate(case, [body])) == case["openai"]


@pytest.mark.parametrize("path", _cases("stream"), ids=lambda p: p.stem)
def test_stream_any_split_gives_the_same_output(path: Path) -> None:
    case = _load(path)
    body = sse_body(case["vertex_events"])
    whole = translate(case, [body])
    step = max(1, len(body) // 97)  # ~100 two-piece splits, plus byte-by-byte
    for cut in range(1, len(body), step):
        assert translate(case, [body[:cut], body[cut:]]) == whole
    assert translate(case, [body[i : i + 1] for i in range(len(body))]) == whole


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    case = _load(GOLDEN / "stream_text.json")
    case["include_usage"] = False
    assert frames(translate(case, [sse_body(case["vertex_events"])])) == case["openai"][:-1]


def test_request_json_is_what_goes_on_the_wire() -> None:
    # orjson keeps insertion order: the body is deterministic for a given OpenAI body.
    case = _load(GOLDEN / "request_multiturn.json")
    assert orjson.dumps(build_request(case["openai"])) == orjson.dumps(build_request(case["openai"]))
    assert list(build_request(case["openai"])) == ["contents", "systemInstruction", "generationConfig"]
