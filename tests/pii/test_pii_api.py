"""The Python API of the native PII scanner: offsets, actions, errors, streams."""

from __future__ import annotations

import pytest

from brutor._native import PiiError, PiiScanner, PiiSpan, RedactResult, StreamRedactor

BUILTIN = [
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "CLOUD_KEY",
    "JWT",
    "BEARER_TOKEN",
    "PRIVATE_KEY",
    "DENY_WORD",
]


@pytest.fixture(scope="module")
def scanner() -> PiiScanner:
    return PiiScanner([("EMPLOYEE_ID", r"\bEMP-\d{6}\b")], ["darkstar", "Project Falcon"])


def spans(scanner: PiiScanner, text: str) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in scanner.scan(text)]


def test_kinds(scanner: PiiScanner) -> None:
    assert PiiScanner().kinds == BUILTIN
    assert scanner.kinds == [*BUILTIN, "EMPLOYEE_ID"]


@pytest.mark.parametrize("prefix", ["", "😀", "😀 ", "é,", "日本語 ", "a\u0301 ", "🇫🇷👩‍👩‍👧 "])
def test_offsets_are_str_indices(scanner: PiiScanner, prefix: str) -> None:
    text = f"{prefix}jane@example.com, 😀 call 555-234-5678 — EMP-123456 ✓ DarkStar"
    assert spans(scanner, text) == [
        ("EMAIL", "jane@example.com"),
        ("PHONE", "555-234-5678"),
        ("EMPLOYEE_ID", "EMP-123456"),
        ("DENY_WORD", "DarkStar"),
    ]


def test_letters_of_any_script_are_word_chars() -> None:
    # "éjane@example.com" has a non-ASCII local part (not recognised); the address does not
    # start inside it.
    assert PiiScanner().scan("éjane@example.com 日本4111111111111111") == []


def test_span_value() -> None:
    s = PiiScanner().scan("x 10.0.0.1")[0]
    assert s == PiiSpan("IP_ADDRESS", 2, 10)
    assert hash(s) == hash(PiiSpan("IP_ADDRESS", 2, 10))
    assert repr(s) == "PiiSpan(kind='IP_ADDRESS', start=2, end=10)"
    with pytest.raises(AttributeError):
        s.start = 3  # type: ignore[misc]


def test_redact_actions(scanner: PiiScanner) -> None:
    text = "jane@example.com paid with 4111 1111 1111 1111 from 10.0.0.1 (SSN 123-45-6789), darkstar"
    r = scanner.redact(
        text,
        {
            "EMAIL": "mask",
            "CREDIT_CARD": "mask",
            "US_SSN": "mask",
            "IP_ADDRESS": "allow",
            "DENY_WORD": "block",
        },
    )
    assert isinstance(r, RedactResult)
    assert (
        r.text
        == "j***@example.com paid with **** **** **** 1111 from 10.0.0.1 (SSN ***-**-6789), [DENY_WORD]"
    )
    assert r.counts == {"EMAIL": 1, "CREDIT_CARD": 1, "US_SSN": 1, "DENY_WORD": 1}
    assert r.blocked == ["DENY_WORD"]
    assert "blocked=['DENY_WORD']" in repr(r)
    # Default: redact every kind.
    r = scanner.redact(text)
    assert r.text == "[EMAIL] paid with [CREDIT_CARD] from [IP_ADDRESS] (SSN [US_SSN]), [DENY_WORD]"
    assert r.blocked == []
    logged = scanner.redact(text, dict.fromkeys(scanner.kinds, "log"))
    assert logged.text == text
    assert sum(logged.counts.values()) == 5


def test_secrets_are_never_partially_masked() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg==\n-----END PRIVATE KEY-----"
    r = PiiScanner().redact(
        f"key:\n{key}\nAuthorization: Bearer abc123def456ghi789",
        {"PRIVATE_KEY": "mask", "BEARER_TOKEN": "mask"},
    )
    assert r.text == "key:\n[PRIVATE_KEY]\nAuthorization: [BEARER_TOKEN]"


@pytest.mark.parametrize(
    ("patterns", "words", "message"),
    [
        ([("BAD", "(unclosed")], [], "unclosed group"),
        ([("EMPTY", "a*")], [], "matches the empty string"),
        ([("lower", "x")], [], "invalid custom PII pattern name"),
        ([("EMAIL", "x")], [], "invalid custom PII pattern name"),
        ([("DUP", "x"), ("DUP", "y")], [], "invalid custom PII pattern name"),
        ([], ["   "], "invalid deny word"),
    ],
)
def test_bad_configuration(patterns: list[tuple[str, str]], words: list[str], message: str) -> None:
    with pytest.raises(PiiError, match=message) as info:
        PiiScanner(patterns, words)
    assert isinstance(info.value, ValueError)


def test_bad_actions(scanner: PiiScanner) -> None:
    with pytest.raises(PiiError, match='unknown PII kind "NAME"'):
        scanner.redact("x", {"NAME": "redact"})
    with pytest.raises(PiiError, match='unknown PII action "hide"'):
        scanner.stream({"EMAIL": "hide"})
    with pytest.raises(TypeError):
        PiiScanner("EMP")  # type: ignore[arg-type]


def test_large_input(scanner: PiiScanner) -> None:
    # Above the GIL-release threshold (32 KiB).
    text = ("lorem ipsum dolor sit amet " * 2000) + "jane@example.com"
    assert spans(scanner, text) == [("EMAIL", "jane@example.com")]
    assert scanner.redact(text).text.endswith("[EMAIL]")


def test_stream(scanner: PiiScanner) -> None:
    r = scanner.stream({"EMAIL": "mask", "DENY_WORD": "block"})
    assert isinstance(r, StreamRedactor)
    out = [r.push("Write to "), r.push("jane"), r.push(".doe@exa"), r.push("mple.com now")]
    assert out == ["Write to ", "", "", "j*******@example.com "]
    assert r.held == len("now")
    assert r.push(" about Dark") == "now about "
    assert not r.is_blocked
    assert r.push("star!") == "[DENY_WORD]!"
    assert r.finish() == ""
    assert r.counts == {"EMAIL": 1, "DENY_WORD": 1}
    assert r.blocked == ["DENY_WORD"]
    assert r.is_blocked
    # A new text after finish; counts carry on.
    assert r.push("jane@example.com") == ""
    assert r.finish() == "j***@example.com"
    assert r.counts["EMAIL"] == 2
