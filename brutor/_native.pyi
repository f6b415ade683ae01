"""Native extension of Brutor (Rust, PyO3). Hand-written stub, checked with ``mypy.stubtest``."""

from collections.abc import Sequence
from typing import Self, final

__all__ = [
    "AnthropicStreamTranslator",
    "BedrockStreamTranslator",
    "ChatChunkRedactor",
    "ChatStreamRelay",
    "EmbedError",
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
    "JwtError",
    "JwtIssuer",
    "JwtKeySet",
    "JwtVerifier",
    "PiiError",
    "PiiScanner",
    "PiiSpan",
    "RedactResult",
    "SseDecoder",
    "SseError",
    "SseEvent",
    "StreamRedactor",
    "TranslateError",
    "VectorIndex",
    "VectorIndexError",
    "VerifiedToken",
    "normalize_l2",
]

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

# --------------------------------------------------------------------------- JWT verification

class JwtError(ValueError):
    """A refused token, key or policy. The message names the failed check only: never the token,
    a claim value, a ``kid`` or key material."""

    code: str
    """Stable reason: ``malformed``, ``too_large``, ``bad_signature``, ``alg_not_allowed``,
    ``key_mismatch``, ``unknown_kid``, ``bad_kid``, ``expired``, ``not_yet_valid``,
    ``issued_in_future``, ``bad_issuer``, ``bad_audience``, ``missing_claim``, ``unsupported``;
    for keys and policies also ``bad_key`` and ``bad_config``."""
    issuer: str | None
    """The configured issuer whose policy refused the token (selected by the token's unverified
    ``iss``), ``None`` if refused before an issuer was selected or not about a token. After
    ``unknown_kid`` the caller may refresh that issuer's JWKS."""

@final
class JwtKeySet:
    """An immutable set of verification keys. Its repr shows key types, kids and pinned algorithms,
    never key material."""

    @staticmethod
    def from_jwks(document: str | bytes | bytearray | memoryview) -> JwtKeySet:
        """The signature keys of a JWKS document: RSA (2048-8192 bits), EC P-256/P-384, OKP Ed25519,
        oct. Keys with ``use`` other than ``sig``, ``key_ops`` without ``verify``, an unknown
        ``kty``/``crv``/``alg``, an invalid ``kid`` or invalid parameters are skipped; raises
        ``JwtError`` (``bad_key``) if none is usable."""

    @staticmethod
    def from_pem(
        pem: str | bytes | bytearray | memoryview, kid: str | None = None, alg: str | None = None
    ) -> JwtKeySet:
        """One ``PUBLIC KEY`` (SubjectPublicKeyInfo: RSA, EC P-256/P-384, Ed25519) or
        ``RSA PUBLIC KEY`` (PKCS#1) PEM block; ``alg`` pins the key to one algorithm."""

    @staticmethod
    def from_secret(
        secret: bytes | bytearray | memoryview, kid: str | None = None, alg: str = "HS256"
    ) -> JwtKeySet:
        """One HMAC secret for ``alg`` (HS256/HS384/HS512); it must be at least as long as the hash
        output (32/48/64 bytes, RFC 7518 section 3.2)."""

    def merged(self, other: JwtKeySet) -> JwtKeySet:
        """A new set with the keys of ``self``, then those of ``other``."""

    def __len__(self) -> int: ...
    def kids(self) -> list[str]:
        """The kids of the keys that have one, in order."""

@final
class JwtIssuer:
    """The immutable policy of one issuer.

    A token's ``alg`` must be in ``algorithms`` *and* served by the selected key (by ``kid``, or
    without one the first few keys that serve it); HS* never verifies against an RSA/EC/OKP key,
    nor RS*/ES*/EdDSA against a secret. ``audiences`` empty means ``aud`` is not checked.
    ``exp <= now - leeway``, ``nbf > now + leeway`` and ``iat > now + leeway`` are refused (PyJWT's
    rules; fractional dates are truncated to seconds).
    """

    def __new__(
        cls,
        issuer: str,
        keys: JwtKeySet,
        audiences: list[str] | tuple[str, ...] = (),
        algorithms: list[str] | tuple[str, ...] = (
            "RS256",
            "RS384",
            "RS512",
            "PS256",
            "PS384",
            "PS512",
            "ES256",
            "ES384",
            "EdDSA",
        ),
        leeway: int = 60,
        required_claims: list[str] | tuple[str, ...] = (),
        require_exp: bool = True,
        max_token_bytes: int = 8192,
    ) -> Self: ...
    def with_keys(self, keys: JwtKeySet) -> JwtIssuer:
        """The same policy with other keys (after a JWKS refresh)."""

    @property
    def issuer(self) -> str: ...
    @property
    def keys(self) -> JwtKeySet: ...
    @property
    def audiences(self) -> list[str]: ...
    @property
    def algorithms(self) -> list[str]: ...
    @property
    def leeway(self) -> int: ...
    @property
    def required_claims(self) -> list[str]: ...
    @property
    def require_exp(self) -> bool: ...
    @property
    def max_token_bytes(self) -> int: ...

@final
class VerifiedToken:
    """A verified token (immutable)."""

    @property
    def subject(self) -> str | None: ...
    @property
    def issuer(self) -> str: ...
    @property
    def audiences(self) -> list[str]:
        """``aud`` as a list (a string gives one element; absent, ``null``, ``""`` give ``[]``)."""

    @property
    def expires_at(self) -> int | None: ...
    @property
    def not_before(self) -> int | None: ...
    @property
    def issued_at(self) -> int | None: ...
    @property
    def key_id(self) -> str | None:
        """The ``kid`` of the key that verified the signature."""

    @property
    def algorithm(self) -> str: ...
    @property
    def claims_json(self) -> bytes:
        """The payload JSON exactly as signed (read custom claims such as tenant or groups from it)."""

@final
class JwtVerifier:
    """Verifies tokens of several issuers, caching verified tokens until they expire."""

    def __new__(cls, issuers: list[JwtIssuer] | tuple[JwtIssuer, ...], cache_size: int = 10000) -> Self: ...
    def verify(self, token: str | bytes | bytearray | memoryview, now: int | None = None) -> VerifiedToken:
        """Verify ``token`` at ``now`` (Unix seconds, default the current time) or raise ``JwtError``.

        The policy is chosen by the token's unverified ``iss`` (unknown: ``bad_issuer``), then
        everything is verified. A token verified before (with an ``exp``) is answered from the
        cache after re-checking ``exp``/``nbf``/``iat`` against ``now``.
        """

    def replace_issuer(self, issuer: JwtIssuer) -> None:
        """Replace the issuer of the same name (e.g. with refreshed keys); its cached tokens are
        dropped. Raises ``JwtError`` (``bad_config``) for an unknown issuer."""

    @property
    def cache_len(self) -> int:
        """Tokens in the cache."""

# --------------------------------------------------------------------------- PII scanning

class PiiError(ValueError):
    """An invalid custom pattern (the message quotes the regex parser), pattern name, deny word,
    kind or action."""

@final
class PiiSpan:
    """One entity found: ``text[start:end]`` (``str`` indices) is it. Compares by value."""

    def __new__(cls, kind: str, start: int, end: int) -> Self: ...
    @property
    def kind(self) -> str:
        """``EMAIL``, ``PHONE``, ``CREDIT_CARD``, ``IBAN``, ``US_SSN``, ``IP_ADDRESS``,
        ``MAC_ADDRESS``, ``CLOUD_KEY``, ``JWT``, ``BEARER_TOKEN``, ``PRIVATE_KEY``, ``DENY_WORD`` or
        a custom pattern's name."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RedactResult:
    """The outcome of ``PiiScanner.redact``."""

    @property
    def text(self) -> str:
        """The text with every entity handled by its kind's action."""

    @property
    def counts(self) -> dict[str, int]:
        """Entities per kind name, for the kinds found whose action is not ``allow``."""

    @property
    def blocked(self) -> list[str]:
        """Kinds found whose action is ``block`` (their entities are redacted; the caller decides
        whether to refuse)."""

@final
class PiiScanner:
    """The built-in PII and secret detectors plus one tenant's custom patterns and deny words
    (immutable; build once per policy and share).

    One pass over the text; at each position the longest entity wins and the scan resumes after
    it, so spans never overlap. ``custom_patterns`` are ``(NAME, regex)`` pairs (Rust ``regex``
    syntax; ``NAME`` is ``[A-Z][A-Z0-9_]*``, becomes the span kind and the placeholder
    ``[NAME]``; a pattern must not match the empty string; matches are searched within 512 bytes
    of their start). ``deny_words`` are words or phrases matched whole, case-insensitively, as
    ``DENY_WORD``.

    Actions (``dict`` of kind name to action; kinds not given are ``redact``): ``allow`` (left,
    not counted), ``log`` (left, counted), ``redact`` (``[KIND]``), ``mask`` (e-mail
    ``j***@example.com``; others keep separators and the last 4 letters/digits when there are at
    least 8, e.g. ``************1111``; private keys, JWTs and bearer tokens are redacted),
    ``block`` (redacted and reported in ``blocked``).
    """

    def __new__(
        cls,
        custom_patterns: Sequence[tuple[str, str]] = (),
        deny_words: Sequence[str] = (),
    ) -> Self: ...
    @property
    def kinds(self) -> list[str]:
        """Every kind this scanner reports: the built-ins, then the custom pattern names."""

    def scan(self, text: str) -> list[PiiSpan]:
        """The entities of ``text`` in order, not overlapping."""

    def redact(self, text: str, actions: dict[str, str] | None = None) -> RedactResult:
        """``text`` with each entity handled by its kind's action."""

    def stream(self, actions: dict[str, str] | None = None) -> StreamRedactor:
        """A redactor for a text that arrives in chunks (a streamed answer)."""

@final
class StreamRedactor:
    """Redacts a text given in chunks. The concatenation of every ``push`` result and ``finish``
    equals ``PiiScanner.redact(whole_text).text`` for any chunking. Only the tail that could
    still become (part of) an entity is held back; entities have bounded lengths (PEM blocks 8 KiB,
    tokens 4 KiB, custom matches 512 bytes: longer ones are cut there, streamed or not)."""

    def push(self, text: str) -> str:
        """Add a chunk; return the redacted text that is final now (possibly ``""``)."""

    def finish(self) -> str:
        """End of the text: return the held tail, redacted. Later pushes start a new text; the
        counts carry on."""

    @property
    def counts(self) -> dict[str, int]:
        """Entities per kind so far (kinds with action ``allow`` are not counted)."""

    @property
    def blocked(self) -> list[str]:
        """Kinds seen so far whose action is ``block``."""

    @property
    def is_blocked(self) -> bool:
        """Whether ``blocked`` is not empty."""

    @property
    def held(self) -> int:
        """UTF-8 bytes received but not yet returned."""

@final
class ChatChunkRedactor:
    """Redacts a live OpenAI ``chat.completion.chunk`` SSE stream, one call per network chunk.

    Every ``choices[*].delta.content`` string goes through a ``StreamRedactor`` of its choice
    ``index`` (the concatenated content of each choice equals ``PiiScanner.redact`` of its whole
    text, for any chunking); the emitted text is spliced back in place of the string as a JSON
    string (non-ASCII as UTF-8). Everything else is forwarded byte-exact: events whose content
    comes out unchanged, comments, ``[DONE]``, error events, non-JSON data and JSON that does not
    parse. A choice's non-null ``finish_reason`` flushes its held tail into that event's content
    (adding ``"content"`` to the delta when it has none). An incomplete trailing event is held
    back until its end arrives.

    When an entity of a ``block`` kind appears, the event carrying it and everything after it are
    withheld (``feed`` returns the events before it) and later input is ignored: the caller ends
    the stream with an error.

    Not redacted in streams: ``delta.tool_calls[*].function.arguments``, ``delta.refusal`` and
    ``reasoning_content``.
    """

    def __new__(
        cls, scanner: PiiScanner, actions: dict[str, str] | None = None, max_event_bytes: int = 1048576
    ) -> Self: ...
    def feed(self, chunk: bytes | bytearray | memoryview, last: bool = False) -> bytes:
        """Return the bytes to forward now: ``chunk`` itself when it is a ``bytes`` that needs no
        change, else a new ``bytes``. With ``last`` (the stream is complete after this chunk), the
        tails still held by choices that sent no ``finish_reason`` are flushed as one extra event
        (``id``, ``object``, ``created`` and ``model`` of the last chunk) placed after the last event
        of this chunk that has choices, so before a trailing usage-only event; an incomplete
        trailing event is dropped. Raises ``SseError`` when an incomplete event grows beyond
        ``max_event_bytes``."""

    def finish(self) -> bytes:
        """The stream is complete: the extra event with the tails still held (``b""`` if none)."""

    @property
    def counts(self) -> dict[str, int]:
        """Entities per kind so far, all choices (kinds with action ``allow`` are not counted)."""

    @property
    def entities(self) -> int:
        """Entities so far, all kinds: a cheap check of whether ``counts`` changed."""

    @property
    def blocked(self) -> list[str]:
        """Kinds seen so far whose action is ``block``."""

    @property
    def is_blocked(self) -> bool:
        """Whether ``blocked`` is not empty (the stream is then over)."""

    @property
    def held(self) -> int:
        """UTF-8 bytes of text received but not yet returned, all choices."""

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete trailing event held back."""

# --------------------------------------------------------------------------- provider stream translation

class TranslateError(ValueError):
    """A malformed upstream stream: an event whose payload is not JSON, an event or message larger
    than the limit, or broken event-stream framing (bad lengths, CRC mismatch, bad header). The
    translator is then failed: every later ``feed`` raises again. Errors the upstream *reports*
    (an ``error`` event, an exception message) do not raise: see ``error_type``."""

class _StreamTranslator:
    """Translates one upstream stream into OpenAI ``chat.completion.chunk`` SSE events, one call per
    network chunk.

    Every chunk carries ``id``, ``object``, ``created``, ``model`` (the client-visible name) and one
    choice (index 0): first ``{"role": "assistant", "content": ""}``, then content pieces and tool
    calls (``index``, ``id``, ``type``, ``function.name`` with ``arguments: ""``, then argument
    pieces), then an empty delta with ``finish_reason`` (``stop``, ``length``, ``tool_calls`` or
    ``content_filter``). With ``include_usage`` a last chunk with ``choices: []`` and ``usage``
    (``prompt_tokens`` counts cached input too; ``prompt_tokens_details.cached_tokens``) follows.
    ``data: [DONE]`` is never written (the gateway adds it after recording the request).

    Once ``done`` or an upstream error is recorded, later input is ignored.
    """

    def feed(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Translate one upstream chunk (any split of the stream); return the complete OpenAI events
        it yields (possibly ``b""``)."""

    def finish(self) -> bytes:
        """At upstream EOF: the last events to forward (normally ``b""``); a partial upstream event is
        dropped (see ``truncated``)."""

    @property
    def done(self) -> bool:
        """The upstream's last event arrived (Anthropic ``message_stop``; Bedrock ``messageStop`` and
        ``metadata``, in either order)."""

    @property
    def stopped(self) -> bool:
        """The upstream sent its stop reason: the answer is complete (Bedrock may still send its
        ``metadata`` with the usage)."""

    @property
    def prompt_tokens(self) -> int | None:
        """Input tokens including those read from or written to the prompt cache."""

    @property
    def completion_tokens(self) -> int | None: ...
    @property
    def cached_tokens(self) -> int | None:
        """Input tokens read from the prompt cache."""

    @property
    def stop_reason(self) -> str | None:
        """The upstream's stop reason as sent (``end_turn``, ``tool_use``, ``max_tokens``, ...)."""

    @property
    def finish_reason(self) -> str | None:
        """The OpenAI ``finish_reason`` sent to the client."""

    @property
    def content_chars(self) -> int:
        """Unicode characters of the text and tool-argument pieces forwarded."""

    @property
    def events(self) -> int:
        """Upstream events (messages) translated."""

    @property
    def tool_calls(self) -> int:
        """Tool calls started."""

    @property
    def error_type(self) -> str | None:
        """The error the upstream reported mid-stream: Anthropic's ``error.type`` (e.g.
        ``overloaded_error``) or Bedrock's ``:exception-type`` / ``:error-code``."""

    @property
    def error_message(self) -> str | None: ...
    @property
    def buffered(self) -> int:
        """Bytes of an incomplete upstream event held back."""

    @property
    def truncated(self) -> int:
        """Bytes of a partial upstream event dropped by ``finish`` (0 when the stream ended cleanly)."""

@final
class AnthropicStreamTranslator(_StreamTranslator):
    """Anthropic Messages SSE (``message_start``, ``content_block_start``/``_delta``/``_stop`` with
    ``text_delta`` and ``input_json_delta``, ``message_delta``, ``message_stop``, ``ping``,
    ``error``). The chunk ``id`` is the upstream message id (``id`` until ``message_start``
    brings it). Thinking deltas and unknown events are skipped."""

    def __new__(
        cls, id: str, model: str, created: int, include_usage: bool = False, max_event_bytes: int = 1048576
    ) -> Self: ...

@final
class BedrockStreamTranslator(_StreamTranslator):
    """Bedrock ``ConverseStream`` (binary AWS event stream: ``messageStart``, ``contentBlockStart``
    with ``toolUse``, ``contentBlockDelta`` with ``text`` or ``toolUse.input``, ``contentBlockStop``,
    ``messageStop``, ``metadata``; exceptions). Reasoning deltas and unknown events are skipped."""

    def __new__(
        cls, id: str, model: str, created: int, include_usage: bool = False, max_message_bytes: int = 1048576
    ) -> Self: ...

class EventStreamError(ValueError):
    """Malformed or oversized AWS event-stream data. The decoder is then failed: it holds nothing and
    every later ``feed`` raises again."""

@final
class EventStreamMessage:
    """One AWS event-stream message (immutable)."""

    @property
    def headers(self) -> dict[str, bool | int | bytes | str]:
        """Header name to value: ``bool``; ``int`` for byte/short/int/long and timestamps (ms since
        the epoch); ``bytes`` for byte arrays and UUIDs; ``str``."""

    @property
    def payload(self) -> bytes: ...

@final
class EventStreamDecoder:
    """Incremental AWS event-stream (``application/vnd.amazon.eventstream``) decoder fed whole
    network chunks; checks both CRCs of every message."""

    def __new__(cls, max_message_bytes: int = 1048576) -> Self: ...
    def feed(self, chunk: bytes | bytearray | memoryview) -> list[EventStreamMessage]:
        """Decode one chunk (any split of the stream); return the messages it completes."""

    def finish(self) -> int:
        """End of stream: drop an incomplete message; return how many of its bytes were held."""

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete message held back."""

class EmbedError(ValueError):
    """A vector that cannot be normalized: all components zero (or none), a NaN or infinite
    component, or a byte length that is not a multiple of 4."""

def normalize_l2(vec: bytes | bytearray | memoryview, /) -> bytes:
    """L2-normalize a vector of little-endian float32 components (any length); return the unit
    vector in the same encoding. The norm is summed in float64, so any finite non-zero vector
    works (no overflow, no underflow). A zero vector raises ``EmbedError`` rather than returning
    zeros: it has no direction and must not become a cache key."""

class VectorIndexError(ValueError):
    """A vector or query that ``VectorIndex`` refuses: wrong dimensions, a NaN or infinite
    component, a byte length that is not a multiple of 4, or a NaN threshold."""

@final
class VectorIndex:
    """Vectors of ``dims`` little-endian float32 components in numbered slots, searched by dot
    product (the cosine, for the unit vectors the semantic cache stores).

    Up to ``exact_limit`` vectors (default: 4096 of 384 dimensions, proportionally fewer of more)
    a search scores every vector. Above, it ranks all of them by the Hamming distance of their
    sign bits and scores the ``max(oversample, limit)`` nearest exactly (``oversample`` default
    64): a vector is missed only if
    that many others have sign bits about as close to the query's (not seen with near-duplicate
    queries on 100k MiniLM-like vectors; ``bench/cache_lookup.py`` measures it). Searches keep the
    GIL (at most ~0.5 ms; the event loop must not wait to take it back).
    """

    def __new__(cls, dims: int, *, exact_limit: int | None = None, oversample: int | None = None) -> Self: ...
    @property
    def dims(self) -> int: ...
    @property
    def exact_limit(self) -> int:
        """Live vectors up to which a search is exact."""

    def __len__(self) -> int: ...
    def insert(self, vector: bytes | bytearray | memoryview) -> int:
        """Store a copy of ``vector``; return its slot (the slots of removed vectors are reused)."""

    def remove(self, slot: int) -> None:
        """Free ``slot``; ``KeyError`` if it holds no vector."""

    def search(
        self, query: bytes | bytearray | memoryview, threshold: float, limit: int
    ) -> list[tuple[int, float]]:
        """Up to ``limit`` ``(slot, score)`` with ``score >= threshold``, best score first (equal
        scores: lower slot first). Scores are float32 dot products."""
