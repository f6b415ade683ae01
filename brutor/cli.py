"""``brutor`` command line: ``serve``, ``config check``, ``db migrate``, ``keys …``, ``tenants …``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

from brutor import __version__
from brutor.config import (
    DEV_API_KEY,
    ConfigError,
    GatewayConfig,
    data_dir,
    default_config,
    is_loopback,
    load_config,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brutor", description="Brutor: a governed AI gateway.")
    parser.add_argument("--version", action="version", version=f"brutor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the gateway")
    serve.add_argument("--config", help="YAML or TOML file (default: embedded defaults; env BRUTOR_CONFIG)")
    serve.add_argument("--host", help="bind address (default from config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from config: 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default from config: 1)")
    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file and exit")
    check.add_argument("file")
    keys = sub.add_parser("keys", help="API key tools")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="make a new sk-brutor- key; print it once, and its hash")
    gen.add_argument("--id", required=True, help="public key id (appears in logs)")
    gen.add_argument("--tenant", required=True)
    gen.add_argument(
        "--pepper-env", default="BRUTOR_KEY_PEPPER", help="environment variable holding server.key_pepper"
    )
    from brutor import cli_admin

    cli_admin.add_commands(keys_sub, sub)
    db = sub.add_parser("db", help="config store tools")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    mig = db_sub.add_parser("migrate", help="apply the config store's migrations and exit")
    mig.add_argument("--config", help="config file with store.backend: postgres (env BRUTOR_CONFIG)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config":
        return _config_check(args.file)
    if args.command == "keys" and args.keys_command == "generate":
        return _keys_generate(args.id, args.tenant, args.pepper_env)
    if args.command in ("keys", "tenants"):
        from brutor import cli_admin

        return cli_admin.run(args)
    if args.command == "db":
        return _migrate(args.config or os.environ.get("BRUTOR_CONFIG"))
    return _serve(args)


def _migrate(path: str | None) -> int:
    try:
        cfg = load_config(path) if path else default_config()
        applied = _prepare_store(cfg)
    except ConfigError as exc:
        print(f"brutor: {path}: {exc}", file=sys.stderr)
        return 1
    if applied is None:
        print(
            "brutor: neither the store nor the audit sink uses PostgreSQL: nothing to migrate",
            file=sys.stderr,
        )
        return 1
    print(
        f"schema {cfg.store.schema_name}: " + (f"applied {sorted(set(applied))}" if applied else "up to date")
    )
    return 0


def _prepare_store(cfg: GatewayConfig) -> list[int] | None:
    """Apply the migrations of every PostgreSQL schema the config uses (config store, audit sink) and
    read the store once, so a bad database stops start-up with one clear line. None: nothing to do."""
    targets: dict[tuple[str, str], bool] = {}
    if cfg.store.backend == "postgres":
        assert cfg.store.postgres_url is not None  # config validation
        targets[(cfg.store.postgres_url.get_secret_value(), cfg.store.schema_name)] = True
    if cfg.audit.sink == "postgres":
        url = cfg.audit.postgres_url or cfg.store.postgres_url
        assert url is not None  # config validation
        targets.setdefault((url.get_secret_value(), cfg.audit.schema_name or cfg.store.schema_name), False)
    if not targets:
        return None
    import asyncio

    from brutor.store.errors import StoreError
    from brutor.store.postgres import PgConfigStore

    async def prepare() -> list[int]:
        applied: list[int] = []
        for (url, schema), is_store in targets.items():
            store = PgConfigStore(url, schema)
            try:
                applied += await store.migrate()
                if is_store:
                    await store.snapshot()
            finally:
                await store.aclose()
        return applied

    try:
        return asyncio.run(prepare())
    except StoreError as exc:
        raise ConfigError([f"store: {exc}"]) from None


def _keys_generate(key_id: str, tenant: str, pepper_env: str) -> int:
    from brutor.identity.apikeys import generate_key, key_hash

    pepper = os.environ.get(pepper_env)
    if not pepper or len(pepper) < 16:
        print(f"brutor: set {pepper_env} to the server's key_pepper (16+ characters)", file=sys.stderr)
        return 1
    key = generate_key()
    # The secret goes to stdout once, for the key's owner; only the hash belongs in the config.
    print(f"key (shown once): {key}")
    print("config entry:")
    print(f"  - {{id: {key_id}, tenant: {tenant}, key_hash: {key_hash(pepper, key)}}}")
    return 0


def _load_checked(path: str | None) -> GatewayConfig:
    """The config plus every JWT issuer's keys, so a bad key source stops start-up with a clear line."""
    cfg = load_config(path) if path else default_config()
    _check_credentials(cfg)
    if cfg.jwt.issuers:
        from brutor.identity.keysource import KeySourceError, load_keys

        problems = []
        for i, issuer in enumerate(cfg.jwt.issuers):
            try:
                load_keys(issuer)
            except KeySourceError as exc:
                problems.append(f"jwt.issuers.{i}: {exc}")
        if problems:
            raise ConfigError(problems)
    return cfg


def _check_credentials(cfg: GatewayConfig) -> None:
    """Resolve every credential reference once (env:, file:, vault:), naming the ones that fail."""
    from brutor.credentials import CredentialError, Credentials, with_live_secrets

    credentials = Credentials(cfg.vault)
    problems = []
    for i, provider in enumerate(cfg.providers):
        try:
            with_live_secrets(provider, credentials)
        except CredentialError as exc:
            problems.append(f"providers.{i}: {exc}")
    if problems:
        raise ConfigError(problems)


def _config_check(path: str) -> int:
    try:
        cfg = _load_checked(path)
    except ConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(cfg.providers)} providers, {len(cfg.models)} models, {len(cfg.keys)} keys)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    path = args.config or os.environ.get("BRUTOR_CONFIG")
    try:
        cfg = _load_checked(path)
        _prepare_store(cfg)
    except ConfigError as exc:
        print(f"brutor: {path}: {exc}", file=sys.stderr)
        return 1
    host = args.host or cfg.server.host
    port = args.port if args.port is not None else cfg.server.port
    workers = args.workers if args.workers is not None else cfg.server.workers
    if not 1 <= port <= 65535 or workers < 1:
        print("brutor: --port must be 1-65535 and --workers at least 1", file=sys.stderr)
        return 1
    if cfg.uses_dev_key() and not is_loopback(host):
        print(
            f"brutor: refusing to listen on {host} with the built-in development key; "
            "set BRUTOR_API_KEY or use a config file with your own keys",
            file=sys.stderr,
        )
        return 1
    run_dir = data_dir(cfg, port)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        # Metrics files are per run (counters restart with the process, as Prometheus expects).
        shutil.rmtree(run_dir / "metrics", ignore_errors=True)
        (run_dir / "metrics").mkdir()
    except OSError as exc:
        print(f"brutor: cannot use data directory {run_dir}: {exc.strerror}", file=sys.stderr)
        return 1
    _banner(cfg, path, host, port, workers)
    print(f"  data directory (audit spool, metrics): {run_dir}", file=sys.stderr, flush=True)
    # Workers are separate processes that rebuild the app from the same file.
    os.environ["BRUTOR_CONFIG"] = os.path.abspath(path) if path else ""
    os.environ["BRUTOR_RUN_DIR"] = str(run_dir)
    from brutor.server.run import run

    run(host, port, workers)
    return 0


def _banner(cfg: GatewayConfig, path: str | None, host: str, port: int, workers: int) -> None:
    source = path or "embedded defaults"
    lines = [f"brutor {__version__}: {source}; http://{host}:{port}/v1 with {workers} worker(s)"]
    if not path:
        lines.append("  offline models (no network): " + ", ".join(m.name for m in cfg.models))
        if cfg.uses_dev_key():
            lines.append(
                f"  development API key: {DEV_API_KEY} (loopback only; set BRUTOR_API_KEY to change)"
            )
    if cfg.store.backend == "postgres":
        lines.append(
            f"  config store: postgres, schema {cfg.store.schema_name} (keys and tenants via /admin)"
        )
    elif not cfg.keys:
        lines.append("  warning: no API keys configured; every governed request will be refused (401)")
    print("\n".join(lines), file=sys.stderr, flush=True)
