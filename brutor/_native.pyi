"""Native extension of Brutor (Rust, PyO3). Hand-written stub, checked with ``mypy.stubtest``."""

from typing import Self, final

__all__ = ["ChatStreamRelay", "SseDecoder", "SseError", "SseEvent"]

class SseError(ValueError):
    """Invalid or oversized server-sent event stream.

    Raised when an event (complete, or still pending and already too long) exceeds
    ``max_event_bytes``. The decoder or relay is then failed: it holds nothing and every later
    ``feed`` raises again.
    """

@final
class SseEvent:
    """One server-sent event (immutable)."""

    @property
    def event(self) -> str | None:
        """Value of the ``event`` field, ``None`` if absent or empty."""

    @property
    def data(self) -> bytes:
        """The ``data`` lines joined with ``b"\\n"``."""

    @property
    def id(self) -> str | None:
        """The last event ID at dispatch (carries over from earlier events), ``None`` if never set."""

    @property
    def retry(self) -> int | None:
        """The ``retry`` field of this event, if it is all ASCII digits."""

@final
class SseDecoder:
    """Incremental WHATWG server-sent-events decoder fed whole network chunks.

    Lines may end in CRLF, LF or CR (also split across chunks); a UTF-8 BOM at stream start is
    removed; only blocks with at least one ``data`` field are dispatched.
    """

    def __new__(cls, max_event_bytes: int = 1048576) -> Self: ...
    def feed(self, chunk: bytes | bytearray | memoryview) -> list[SseEvent]:
        """Decode one chunk (any split of the stream); return the events it completes."""

    def finish(self) -> list[SseEvent]:
        """End of stream. An unterminated final event is discarded (WHATWG), so this returns ``[]``."""

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the end of their event."""

@final
class ChatStreamRelay:
    """Relays an upstream OpenAI ``chat.completion.chunk`` SSE stream to a client, one crossing per
    network chunk.

    ``feed`` returns everything up to the end of the last complete event (an incomplete trailing
    event is held back), minus the ``data: [DONE]`` event (which sets ``done``; anything after it is
    ignored) and, with ``strip_usage_chunk``, minus the usage-only chunk. When the input is a
    ``bytes`` made exactly of complete events and nothing is held back or removed, the same object
    is returned (no copy).
    """

    def __new__(cls, strip_usage_chunk: bool = False, max_event_bytes: int = 1048576) -> Self: ...
    def feed(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Return the bytes to forward to the client now: ``chunk`` itself when it is a ``bytes`` that
        passes through unchanged, else a new ``bytes`` (other buffers are copied once: granian's
        ``send_bytes`` is fast only for ``bytes``)."""

    def finish(self) -> bytes:
        """At upstream EOF: leftover bytes that are safe to forward (complete comment lines at the
        start of the held-back tail; normally ``b""``). A partial event is discarded."""

    @property
    def done(self) -> bool:
        """True once ``data: [DONE]`` was seen."""

    @property
    def prompt_tokens(self) -> int | None:
        """From the last non-null ``usage`` object seen."""

    @property
    def completion_tokens(self) -> int | None: ...
    @property
    def total_tokens(self) -> int | None: ...
    @property
    def cached_tokens(self) -> int | None:
        """``usage.prompt_tokens_details.cached_tokens`` if present."""

    @property
    def content_chars(self) -> int:
        """Unicode characters of all ``delta.content``, ``delta.reasoning_content`` and tool-call
        ``function.arguments`` strings (after JSON unescaping)."""

    @property
    def events(self) -> int:
        """Data events seen, excluding ``[DONE]``."""

    @property
    def finish_reason(self) -> str | None:
        """The last non-null ``finish_reason`` seen."""

    @property
    def error(self) -> bytes | None:
        """Raw JSON of the last top-level ``error`` value of an event (the relay keeps forwarding)."""

    @property
    def model(self) -> str | None:
        """The ``model`` of the first chunk."""
