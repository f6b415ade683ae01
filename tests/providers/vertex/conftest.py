"""A mock Vertex AI (with its OAuth token endpoint) and a service-account file pointing at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from mock_vertex import MockVertex


@pytest.fixture(scope="session")
def vertex_mock() -> Iterator[MockVertex]:
    mock = MockVertex().start()
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture(scope="session")
def sa_file(vertex_mock: MockVertex, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vertex") / "service-account.json"
    path.write_text(json.dumps(vertex_mock.service_account()))
    return path
