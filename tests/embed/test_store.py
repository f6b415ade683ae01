"""Building into the cache directory: once, atomically, keyed by the sources, under a lock."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import onnx
import pytest
from conftest import write_tiny_source

from brutor.embed import ensure_model
from brutor.embed.build import main as build_main
from brutor.embed.store import model_path, source_key


def test_built_once_then_reused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = write_tiny_source(tmp_path / "src")
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="brutor.embed"):
        path = ensure_model(cache, "int8", src)
    assert "one time" in caplog.text and "built" in caplog.text
    onnx.checker.check_model(onnx.load(path))
    stat = path.stat()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="brutor.embed"):
        assert ensure_model(cache, "int8", src) == path
    assert caplog.text == ""
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    # Only the model and the lock file: no temporary file left behind.
    assert sorted(p.name for p in cache.iterdir()) == sorted([path.name, ".embed-build.lock"])


def test_quantized_build_is_deterministic(tmp_path: Path) -> None:
    src = write_tiny_source(tmp_path / "src")
    a = ensure_model(tmp_path / "a", "int8", src).read_bytes()
    b = ensure_model(tmp_path / "b", "int8", src).read_bytes()
    assert a == b


def test_key_follows_weights_and_variant(tmp_path: Path) -> None:
    one = write_tiny_source(tmp_path / "one", seed=1)
    two = write_tiny_source(tmp_path / "two", seed=2)
    same = write_tiny_source(tmp_path / "same", seed=1)
    assert source_key(one, "int8") == source_key(same, "int8")
    assert source_key(one, "int8") != source_key(two, "int8")
    assert source_key(one, "int8") != source_key(one, "fp32")


def test_concurrent_builders_build_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = write_tiny_source(tmp_path / "src")
    cache = tmp_path / "cache"
    paths: list[Path] = []
    with caplog.at_level(logging.INFO, logger="brutor.embed"):
        threads = [
            threading.Thread(target=lambda: paths.append(ensure_model(cache, "int8", src))) for _ in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(set(paths)) == 1 and len(paths) == 3
    assert caplog.text.count("one time") == 1


def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    src = write_tiny_source(tmp_path / "src")
    cache = tmp_path / "cache"
    cache.mkdir()
    target = model_path(cache, src, "fp32")
    stale = cache / f".{target.name}.abc123.tmp"
    stale.write_bytes(b"partial")
    assert ensure_model(cache, "fp32", src) == target
    assert not stale.exists()


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    src = write_tiny_source(tmp_path / "src")
    (src / "model.safetensors").write_bytes(b"\x00" * 16)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="safetensors"):
        ensure_model(cache, "fp32", src)
    assert [p.name for p in cache.iterdir()] == [".embed-build.lock"]


def test_cli_prints_the_path(model_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_main([str(model_cache)]) == 0
    out = Path(capsys.readouterr().out.strip())
    assert out.parent == model_cache and out.name.startswith("all-MiniLM-L6-v2.int8.")
