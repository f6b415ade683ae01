"""Shared pytest set-up for Brutor's test suites.

Kept deliberately small: it only makes the standard-library mock upstream (``tests/mock_openai.py``)
and the end-to-end support module (``tests/e2e/e2e_support.py``) importable whatever pytest's import
mode or package layout, and offers an in-process mock upstream fixture any suite may use.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
for _p in (_TESTS, _TESTS / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from mock_openai import DEFAULT_API_KEY as UPSTREAM_KEY  # noqa: E402
from mock_openai import MockOpenAI  # noqa: E402


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[MockOpenAI]:
    """One mock OpenAI upstream (in a thread, on a free port) for the whole session."""
    mock = MockOpenAI(api_key=UPSTREAM_KEY, slow_first_byte=3.0).start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def mock(mock_upstream: MockOpenAI) -> MockOpenAI:
    """The session mock with its request log cleared for this test."""
    mock_upstream.reset()
    return mock_upstream
