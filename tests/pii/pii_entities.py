"""Generators of PII entities and of hard negatives (things that look like entities but are
not), from a seeded ``random.Random``; see ``pii_corpus.py``."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
import uuid
from collections.abc import Callable

CUSTOM_PATTERNS = [("EMPLOYEE_ID", r"\bEMP-\d{6}\b")]
DENY_WORDS = ["Project Falcon", "darkstar"]

KINDS = [
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
    "EMPLOYEE_ID",
]

R = random.Random
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def _pick(r: R, chars: str, n: int) -> str:
    return "".join(r.choice(chars) for _ in range(n))


def _digits(r: R, n: int) -> str:
    return _pick(r, string.digits, n)


def _token(r: R, chars: str, n: int) -> str:
    """``n`` chars with at least one letter and one digit, ending in a letter or digit."""
    body = [*_pick(r, chars, n - 2), r.choice(string.ascii_letters), r.choice(string.digits)]
    r.shuffle(body)
    return "".join(body) + r.choice(ALNUM)


# --------------------------------------------------------------------------- positives

FIRST = ["john", "jane", "maria", "li", "ahmed", "olga", "peter", "sofia", "kenji", "amara", "lucas"]
LAST = ["smith", "doe", "garcia", "wang", "khan", "ivanova", "muller", "rossi", "tanaka", "okafor"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "gmail.com", "outlook.de", "startup.io"]


def email(r: R) -> str:
    f, last = r.choice(FIRST), r.choice(LAST)
    local = r.choice(
        [f"{f}.{last}", f"{f}{_digits(r, 2)}", f"{f[0]}{last}", f"{f}_{last}", f"{f}+news", f"{f}-{last}"]
    )
    if r.random() < 0.2:
        local = local.capitalize()
    return f"{local}@{r.choice(DOMAINS)}"


def _nxx(r: R) -> str:
    return str(r.randint(2, 9)) + _digits(r, 2)


def phone(r: R) -> str:
    a, e, line = _nxx(r), _nxx(r), _digits(r, 4)
    forms = [
        f"({a}) {e}-{line}",
        f"{a}-{e}-{line}",
        f"{a}.{e}.{line}",
        f"{a} {e} {line}",
        f"+1 {a} {e} {line}",
        f"+1-{a}-{e}-{line}",
        f"1-{a}-{e}-{line}",
        f"+1 ({a}) {e}-{line}",
        f"+1{a}{e}{line}",
        f"+44 20 {_digits(r, 4)} {_digits(r, 4)}",
        f"020 {_digits(r, 4)} {_digits(r, 4)}",
        f"07{_digits(r, 3)} {_digits(r, 6)}",
        f"+44 (0)20 {_digits(r, 4)} {_digits(r, 4)}",
        f"+33 {r.randint(1, 9)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)}",
        f"0{r.randint(1, 9)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)} {_digits(r, 2)}",
        f"+49 30 {_digits(r, 8)}",
        f"030 {_digits(r, 7)}",
        f"+49 151 {_digits(r, 8)}",
    ]
    return r.choice(forms)


def luhn_digit(partial: str) -> str:
    total = 0
    for i, d in enumerate(reversed(partial)):
        v = int(d)
        if i % 2 == 0:  # doubled once the check digit is appended
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return str((10 - total % 10) % 10)


def card_number(r: R) -> str:
    prefix, length = r.choice(
        [
            ("4", 16),
            (str(r.randint(51, 55)), 16),
            (str(r.randint(2221, 2720)), 16),
            (r.choice(["34", "37"]), 15),
            ("6011", 16),
            ("65", 16),
            (str(r.randint(3528, 3589)), 16),
            ("36", 14),
        ]
    )
    partial = prefix + _digits(r, length - len(prefix) - 1)
    return partial + luhn_digit(partial)


def format_card(r: R, number: str) -> str:
    style = r.randrange(3)
    if style == 0:
        return number
    sep = " " if style == 1 else "-"
    if len(number) == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def credit_card(r: R) -> str:
    return format_card(r, card_number(r))


IBAN_BBAN = {  # country: BBAN layout (d digit, a upper-case letter)
    "DE": "d" * 18,
    "GB": "aaaa" + "d" * 14,
    "FR": "d" * 23,
    "NL": "aaaa" + "d" * 10,
    "ES": "d" * 20,
    "IT": "a" + "d" * 22,
    "CH": "d" * 17,
    "BE": "d" * 12,
    "PL": "d" * 24,
    "NO": "d" * 11,
}


def _mod97(s: str) -> int:
    return int("".join(str(int(c, 36)) for c in s)) % 97


def iban_compact(r: R) -> str:
    country = r.choice(sorted(IBAN_BBAN))
    bban = "".join(
        r.choice(string.digits if c == "d" else string.ascii_uppercase) for c in IBAN_BBAN[country]
    )
    check = 98 - _mod97(bban + country + "00")
    return f"{country}{check:02d}{bban}"


def format_iban(r: R, compact: str) -> str:
    if r.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def iban(r: R) -> str:
    return format_iban(r, iban_compact(r))


def ssn(r: R) -> str:
    area = r.randint(1, 899)
    area = 665 if area == 666 else area
    sep = r.choice(["-", "-", " "])
    return f"{area:03d}{sep}{r.randint(1, 99):02d}{sep}{r.randint(1, 9999):04d}"


def ip_address(r: R) -> str:
    style = r.randrange(4)
    if style < 2:
        return ".".join(str(r.randint(0, 255)) for _ in range(4))
    if style == 2:
        return ipaddress.IPv6Address(r.getrandbits(128)).compressed
    prefix = r.choice(["2001:db8::", "fe80::"])
    return prefix + ":".join(f"{r.getrandbits(16):x}" for _ in range(r.randint(2, 4)))


def mac_address(r: R) -> str:
    octets = [f"{r.getrandbits(8):02x}" for _ in range(6)]
    style = r.randrange(3)
    if style == 0:
        return ":".join(octets).upper()
    if style == 1:
        return "-".join(octets)
    flat = "".join(octets)
    return ".".join(flat[i : i + 4] for i in range(0, 12, 4))


def cloud_key(r: R) -> str:
    forms: list[Callable[[], str]] = [
        lambda: "AKIA" + _pick(r, string.ascii_uppercase + "234567", 16),
        lambda: "ASIA" + _pick(r, string.ascii_uppercase + "234567", 16),
        lambda: "AIza" + _pick(r, B64URL, 34) + r.choice(ALNUM),
        lambda: "ghp_" + _pick(r, ALNUM, 36),
        lambda: "gho_" + _pick(r, ALNUM, 36),
        lambda: f"xoxb-{_digits(r, 12)}-{_digits(r, 13)}-{_pick(r, ALNUM, 24)}",
        lambda: "sk-proj-" + _token(r, B64URL, 48),
        lambda: "sk-ant-api03-" + _token(r, B64URL, 80),
        lambda: "sk-" + _token(r, ALNUM, 48),
        lambda: "sk_live_" + _pick(r, ALNUM, 24),
        lambda: "rk_test_" + _pick(r, ALNUM, 24),
    ]
    return r.choice(forms)()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(r: R) -> str:
    header = {"alg": r.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
    claims = {"sub": str(r.getrandbits(32)), "iat": 1714567890 + r.randint(0, 10**6), "name": r.choice(FIRST)}
    sig = _b64url(r.randbytes(r.choice([32, 64, 256])))
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}.{sig}"


def bearer_token(r: R) -> str:
    word = r.choice(["Bearer", "Bearer", "bearer"])
    return f"{word} {_token(r, ALNUM + '._-~', r.randint(24, 64))}"


def private_key(r: R) -> str:
    label = r.choice(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "])
    body = base64.b64encode(r.randbytes(r.randint(100, 1200))).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}PRIVATE KEY-----\n{lines}\n-----END {label}PRIVATE KEY-----"


def deny_word(r: R) -> str:
    return r.choice(
        ["Project Falcon", "project falcon", "PROJECT FALCON", "darkstar", "DarkStar", "DARKSTAR"]
    )


def employee_id(r: R) -> str:
    return "EMP-" + _digits(r, 6)


GENERATORS: dict[str, Callable[[R], str]] = {
    "EMAIL": email,
    "PHONE": phone,
    "CREDIT_CARD": credit_card,
    "IBAN": iban,
    "US_SSN": ssn,
    "IP_ADDRESS": ip_address,
    "MAC_ADDRESS": mac_address,
    "CLOUD_KEY": cloud_key,
    "JWT": jwt,
    "BEARER_TOKEN": bearer_token,
    "PRIVATE_KEY": private_key,
    "DENY_WORD": deny_word,
    "EMPLOYEE_ID": employee_id,
}

# --------------------------------------------------------------------------- hard negatives


def _bad_luhn(r: R) -> str:
    number = card_number(r)
    return format_card(r, number[:-1] + str((int(number[-1]) + r.randint(1, 9)) % 10))


def _bad_iban(r: R) -> str:
    compact = iban_compact(r)
    i = r.randrange(4, len(compact))
    while not compact[i].isdigit():
        i = r.randrange(4, len(compact))
    wrong = compact[:i] + str((int(compact[i]) + r.randint(1, 9)) % 10) + compact[i + 1 :]
    return format_iban(r, wrong)


def _bad_ssn(r: R) -> str:
    area = r.choice(["000", "666", str(r.randint(900, 999))])
    return r.choice(
        [
            f"{area}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}",
            f"{r.randint(1, 665):03d}-00-{r.randint(1, 9999):04d}",
            f"{r.randint(1, 665):03d}-{r.randint(1, 99):02d}-0000",
        ]
    )


def _isbn(r: R) -> str:
    return r.choice(
        [
            f"978-{r.randint(0, 9)}-{_digits(r, 2)}-{_digits(r, 6)}-{r.randint(0, 9)}",
            f"ISBN 0-{_digits(r, 3)}-{_digits(r, 5)}-{r.randint(0, 9)}",
            f"ISBN {r.choice(['978', '979'])}{_digits(r, 10)}",
        ]
    )


def _date_or_time(r: R) -> str:
    y, m, d = r.randint(1990, 2030), r.randint(1, 12), r.randint(1, 28)
    hh, mm, ss = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    return r.choice(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{m:02d}/{d:02d}/{y}",
            f"{d:02d}.{m:02d}.{y}",
            f"{y}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
            f"{y}-{m:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}",
            f"{hh:02d}:{mm:02d}:{ss:02d}",
            str(r.randint(1_000_000_000, 1_999_999_999)),
            str(r.randint(1_000_000_000_000, 1_999_999_999_999)),
        ]
    )


def _version(r: R) -> str:
    a, b, c = r.randint(0, 20), r.randint(0, 40), r.randint(0, 200)
    return r.choice(
        [f"v{a}.{b}.{c}", f"{a}.{b}.{c}", f"version {a}.{b}.{c}-rc{r.randint(1, 5)}", f"Python 3.{b}.{c}"]
    )


def _order_id(r: R) -> str:
    return r.choice(
        [
            f"Order #{r.choice('789')}{_digits(r, 13)}",
            f"order {r.choice('1789')}{_digits(r, 15)}",
            f"INV-{r.randint(2000, 2030)}-{_digits(r, 6)}",
            f"#{_digits(r, 3)}-{_digits(r, 7)}-{_digits(r, 7)}",
            f"1Z{_pick(r, string.ascii_uppercase + string.digits, 16)}",
            f"ticket {_digits(r, 9)}",
        ]
    )


def _misc(r: R) -> str:
    return r.choice(
        [
            str(uuid.UUID(int=r.getrandbits(128))),
            _pick(r, "0123456789abcdef", 40),
            f"commit {_pick(r, '0123456789abcdef', 7)}",
            f"${r.randint(1, 99)},{_digits(r, 3)}.{_digits(r, 2)}",
            f"{r.randint(10, 80)}.{_digits(r, 4)}, -{r.randint(10, 170)}.{_digits(r, 4)}",
            f"{_digits(r, 5)}-{_digits(r, 4)}",
            f"{_nxx(r)}-{_digits(r, 4)}",
            f"{r.randint(1, 23)}:{r.randint(10, 59)}",
            f"{r.randint(1, 255)}.{r.randint(0, 255)}.{r.randint(0, 255)}",
            f"{r.randint(256, 999)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(0, 255)}",
            f"1.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
            ":".join(f"{r.getrandbits(8):02X}" for _ in range(5)),
            "sk-learn and scikit-learn",
            "the Bearer of bad news",
            "tokens such as eyJ are base64",
            "AKIA prefixes mark AWS keys",
            "never share your PRIVATE KEY",
            "user@localhost",
            "@handle",
            "https://example.com/path?id=12345&page=2",
            "/var/log/app-2024.log",
            f"{_digits(r, 9)}",
            f"#{_pick(r, '0123456789ABCDEF', 6)}",
            f"2^32 = {2**32}",
            f"pi is {r.choice(['3.14159', '3.1415926535'])}",
            "::",
            "std::vector and Foo::bar",
        ]
    )


NEGATIVES: list[Callable[[R], str]] = [
    _bad_luhn,
    _bad_iban,
    _bad_ssn,
    _isbn,
    _date_or_time,
    _version,
    _order_id,
    _misc,
]
