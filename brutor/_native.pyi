"""Native extension of Brutor (Rust, PyO3). Hand-written stub, checked with ``mypy.stubtest``."""

from collections.abc import Sequence
from typing import Self, final

__all__ = [
    "ChatStreamRelay",
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
    "VerifiedToken",
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
