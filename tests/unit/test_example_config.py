"""examples/brutor.yaml, the documented reference of every section, stays a valid config."""

from __future__ import annotations

import re
from pathlib import Path

from brutor.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "brutor.yaml"


def test_the_example_config_is_valid() -> None:
    # Required variables only (those with a default keep it): secrets and the database URL.
    names = set(re.findall(r"\$\{(\w+)\}", EXAMPLE.read_text()))
    env = {n: "sk-placeholder-0123456789abcdef" for n in names}
    env["BRUTOR_DATABASE_URL"] = "postgresql://brutor@127.0.0.1:5432/brutor"
    cfg = load_config(EXAMPLE, env=env)
    assert cfg.cache.enabled is False and cfg.cache.threshold == 0.96
    assert cfg.models and cfg.providers
