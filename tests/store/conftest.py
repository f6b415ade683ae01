"""Fixtures for the config store suite: real PostgreSQL, one fresh schema per test (dropped afterwards)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

import asyncpg
import pytest

from brutor.store.postgres import PgConfigStore

PG_URL = os.environ.get("BRUTOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def unique_schema() -> str:
    return "brutor_t_" + secrets.token_hex(5)


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture
def schema(runner: asyncio.Runner) -> Iterator[str]:
    name = unique_schema()
    try:
        yield name
    finally:
        runner.run(drop_schema(name))


@pytest.fixture
def store(runner: asyncio.Runner, schema: str) -> Iterator[PgConfigStore]:
    s = PgConfigStore(PG_URL, schema)
    runner.run(s.migrate())
    try:
        yield s
    finally:
        runner.run(s.aclose())
