"""Typed gateway configuration: one YAML or TOML file, validated at start-up.

An invalid file stops start-up with one line per problem naming the key path (``providers.0.base_url``).
``${VAR}`` and ``${VAR:-default}`` are substituted in every string value so secrets stay out of the file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from brutor.cache.config import CacheConfig
from brutor.config_jwt import JwtConfig as JwtConfig
from brutor.config_jwt import JwtIssuerConfig as JwtIssuerConfig
from brutor.config_model import ConfigModel
from brutor.config_sections import AuditConfig as AuditConfig
from brutor.config_sections import MetricsConfig as MetricsConfig
from brutor.config_sections import StoreConfig as StoreConfig
from brutor.config_sections import TenantConfig as TenantConfig
from brutor.config_sections import TracingConfig as TracingConfig
from brutor.credentials import VaultConfig
from brutor.guardrails.config import GuardrailsConfig
from brutor.routing.config import DeploymentConfig, RoutingConfig, Transforms

DEV_API_KEY = "sk-brutor-local-dev"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration cannot be used; ``problems`` holds one ``key.path: message`` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class Timeouts(ConfigModel):
    connect: float = Field(5.0, gt=0)
    first_byte: float = Field(60.0, gt=0)
    idle: float = Field(60.0, gt=0)
    total: float = Field(600.0, gt=0)


class Pool(ConfigModel):
    max_connections: int = Field(1024, ge=1)
    max_idle_per_host: int = Field(256, ge=0)
    idle_timeout: float = Field(90.0, gt=0)


class ServerConfig(ConfigModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=256)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    access_log: str = "stdout"
    admin_key: SecretStr | None = None
    # JWT principals in any of these groups (the issuer's groups_claim) may use the admin API.
    admin_groups: tuple[str, ...] = ()
    # Spool, SQLite audit file and metrics files live here (default: ~/.local/state/brutor/port-<port>;
    # env BRUTOR_DATA_DIR replaces ~/.local/state/brutor). Set it explicitly in production.
    data_dir: str | None = None
    # The secret API keys are hashed with (keys[].key_hash); required when any key is stored as a hash.
    key_pepper: SecretStr | None = None

    @field_validator("key_pepper")
    @classmethod
    def _strong_pepper(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value


class Entitlement(ConfigModel):
    """Resource names (with * wildcards) a tenant or group may use (``allow``) and may never use (``deny``).
    An unset ``allow`` adds no restriction."""

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()


class EntitlementsConfig(ConfigModel):
    tenants: dict[str, Entitlement] = Field(default_factory=dict)
    groups: dict[str, Entitlement] = Field(default_factory=dict)


class LimitValues(ConfigModel):
    """Limits for one subject; unset means unlimited. Costs are USD (kept exact as micro-USD)."""

    # Bounds are the limiter's own (exact integer arithmetic in Python and Lua): out-of-range values are
    # refused here, at start-up, rather than on a request.
    rpm: int | None = Field(None, ge=1, le=10**11)
    tpm: int | None = Field(None, ge=1, le=10**11)
    concurrency: int | None = Field(None, ge=1, le=10**15)
    tokens_per_day: int | None = Field(None, ge=1, le=10**15)
    tokens_per_month: int | None = Field(None, ge=1, le=10**15)
    cost_per_day_usd: float | None = Field(None, gt=0, le=10**9)
    cost_per_month_usd: float | None = Field(None, gt=0, le=10**9)


class LimitsConfig(ConfigModel):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    timeout_ms: int = Field(75, ge=1, le=5000)
    # What to do when Redis cannot be reached: enforce locally (each worker its share) or refuse (503).
    on_redis_error: Literal["fail_open", "fail_closed"] = "fail_open"
    # Share of each limit one worker enforces while Redis is down (e.g. 1 / (workers x replicas)).
    local_share: float = Field(1.0, gt=0, le=1)
    # Reserved for the answer when a request sets no max_tokens (reconciled with real usage after).
    default_max_tokens: int = Field(1024, ge=0)
    # Longest an unsettled concurrency slot is held (a crashed worker's slots free themselves).
    lease_seconds: float = Field(900.0, gt=0)
    # Per-subject limits; "*" applies to every tenant / model / user separately.
    tenants: dict[str, LimitValues] = Field(default_factory=dict)
    models: dict[str, LimitValues] = Field(default_factory=dict)
    users: dict[str, LimitValues] = Field(default_factory=dict)


class Price(ConfigModel):
    """USD per million tokens."""

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)


class KeyConfig(ConfigModel):
    id: str = Field(min_length=1, max_length=128)
    # The secret itself, or (better) only its keyed hash from `brutor keys generate`.
    key: SecretStr | None = None
    key_hash: str | None = Field(None, pattern=r"^blake2b:[0-9a-f]{64}$")
    owner: str | None = None
    expires_at: datetime | None = None
    revoked: bool = False
    tenant: str = Field(min_length=1, max_length=128)
    # Further tenants the key may act for by sending X-Tenant-ID (the default stays ``tenant``).
    tenants: tuple[str, ...] = ()
    models: tuple[str, ...] = ("*",)
    # Resource names (with * wildcards) this key may never use, whatever else allows them.
    deny: tuple[str, ...] = ()
    limits: LimitValues | None = None

    @field_validator("key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("API keys must be at least 16 characters")
        return value

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2027-01-31T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> KeyConfig:
        if (self.key is None) == (self.key_hash is None):
            raise ValueError("set exactly one of key, key_hash")
        return self


ProviderType = Literal["openai", "offline", "anthropic", "bedrock", "vertex", "azure", "mistral"]
# Where a provider lives when base_url is not given (None: base_url is required).
DEFAULT_BASE_URLS: dict[str, str | None] = {
    "openai": None,
    "offline": None,
    "anthropic": "https://api.anthropic.com",
    "mistral": "https://api.mistral.ai",
    "azure": None,
    "bedrock": None,  # https://bedrock-runtime.<region>.amazonaws.com
    "vertex": None,  # https://<location>-aiplatform.googleapis.com
}


class ProviderConfig(ConfigModel):
    """One upstream account. Fields beyond the common ones belong to one provider type each."""

    name: str = Field(min_length=1)
    type: ProviderType
    base_url: str | None = None
    api_key: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeouts: Timeouts = Timeouts()
    pool: Pool = Pool()
    # anthropic
    anthropic_version: str = "2023-06-01"
    # azure: the resource endpoint is base_url (https://<resource>.openai.azure.com); api_key or an
    # Entra ID token.
    api_version: str | None = None
    azure_ad_token: SecretStr | None = None
    # bedrock (SigV4) and vertex: region / location
    region: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    # vertex: project, and a service-account JSON file (default: application default credentials)
    project: str | None = None
    credentials_file: str | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _required_per_type(self) -> ProviderConfig:
        t = self.type
        if t in ("openai", "azure") and not self.base_url:
            raise ValueError(f"base_url: required for a provider of type '{t}'")
        if t == "azure" and not self.api_version:
            raise ValueError("api_version: required for an azure provider (e.g. 2024-10-21)")
        if t == "bedrock" and not (self.region or self.base_url):
            raise ValueError("region: required for a bedrock provider")
        if t == "vertex" and not (self.project and (self.region or self.base_url)):
            raise ValueError("project and region: required for a vertex provider")
        return self

    @property
    def effective_base_url(self) -> str | None:
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.type == "bedrock" and self.region:
            return f"https://bedrock-runtime.{self.region}.amazonaws.com"
        if self.type == "vertex" and self.region:
            if self.region == "global":
                return "https://aiplatform.googleapis.com"
            return f"https://{self.region}-aiplatform.googleapis.com"
        return DEFAULT_BASE_URLS[self.type]


class ModelConfig(ConfigModel):
    """A client-visible model name (an alias) served by one provider or by several deployments."""

    name: str = Field(min_length=1, max_length=256)
    # One deployment: provider (+ upstream_model). Several: deployments. Exactly one of the two.
    provider: str | None = None
    upstream_model: str | None = None
    deployments: tuple[DeploymentConfig, ...] = ()
    type: Literal["chat", "embedding"] = "chat"
    # Used for cost budgets and reported cost.
    price: Price | None = None
    # Defaults for this alias: selection, retries, breaker (the top-level routing section otherwise).
    routing: RoutingConfig | None = None
    transforms: Transforms = Transforms()

    @model_validator(mode="after")
    def _one_way(self) -> ModelConfig:
        if (self.provider is None) == (not self.deployments):
            raise ValueError("set exactly one of provider, deployments")
        return self

    @property
    def effective_deployments(self) -> tuple[DeploymentConfig, ...]:
        if self.deployments:
            return self.deployments
        assert self.provider is not None
        return (DeploymentConfig(provider=self.provider, upstream_model=self.upstream_model),)


class GatewayConfig(ConfigModel):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    tenants: tuple[TenantConfig, ...] = ()
    keys: tuple[KeyConfig, ...] = ()
    jwt: JwtConfig = JwtConfig()
    entitlements: EntitlementsConfig = EntitlementsConfig()
    limits: LimitsConfig = LimitsConfig()
    guardrails: GuardrailsConfig = GuardrailsConfig()
    cache: CacheConfig = CacheConfig()
    routing: RoutingConfig = RoutingConfig()
    vault: VaultConfig | None = None
    audit: AuditConfig = AuditConfig()
    tracing: TracingConfig = TracingConfig()
    metrics: MetricsConfig = MetricsConfig()
    providers: tuple[ProviderConfig, ...] = ()
    models: tuple[ModelConfig, ...] = ()

    @model_validator(mode="after")
    def _check_references(self) -> GatewayConfig:
        problems = _duplicates("providers", [p.name for p in self.providers])
        problems += _duplicates("models", [m.name for m in self.models])
        problems += _duplicates("keys", [k.id for k in self.keys])
        problems += _duplicates("tenants", [t.id for t in self.tenants])
        problems += _duplicates("jwt.issuers", [i.name for i in self.jwt.issuers])
        problems += _duplicates("jwt.issuers (issuer)", [i.issuer for i in self.jwt.issuers])
        problems += [
            f"keys.{i}.id: 'jwt:' is reserved for token issuers"
            for i, k in enumerate(self.keys)
            if k.id.startswith("jwt:")
        ]
        if any(k.key_hash for k in self.keys) and self.server.key_pepper is None:
            problems.append("server.key_pepper: required when keys are stored as key_hash")
        if (
            self.audit.sink == "postgres"
            and self.audit.postgres_url is None
            and self.store.postgres_url is None
        ):
            problems.append("audit.postgres_url: required for the postgres sink (or set store.postgres_url)")
        if self.store.backend == "postgres" and self.server.key_pepper is None:
            problems.append("server.key_pepper: required with the postgres store (keys are stored hashed)")
        secrets = [k.key.get_secret_value() for k in self.keys if k.key is not None]
        if len(set(secrets)) != len(secrets):
            problems.append("keys: two keys share the same secret")
        if self.limits.backend == "redis" and urlsplit(self.limits.redis_url).scheme not in (
            "redis",
            "rediss",
            "unix",
        ):
            problems.append("limits.redis_url: must be a redis://, rediss:// or unix:// URL")
        known = {p.name for p in self.providers}
        for i, model in enumerate(self.models):
            for j, d in enumerate(model.effective_deployments):
                if d.provider not in known:
                    where = f"models.{i}.deployments.{j}" if model.deployments else f"models.{i}"
                    problems.append(f"{where}.provider: unknown provider '{d.provider}'")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    def uses_dev_key(self) -> bool:
        return any(k.key is not None and k.key.get_secret_value() == DEV_API_KEY for k in self.keys)


def _duplicates(section: str, names: list[str]) -> list[str]:
    counts = Counter(names)
    return [f"{section}: duplicate name '{n}'" for n in sorted(n for n, c in counts.items() if c > 1)]


def data_dir(config: GatewayConfig, port: int, env: Mapping[str, str] | None = None) -> Path:
    """Where this gateway keeps its spool, SQLite audit file and metrics files."""
    if config.server.data_dir:
        return Path(config.server.data_dir).expanduser()
    env = os.environ if env is None else env
    root = Path(env.get("BRUTOR_DATA_DIR") or "~/.local/state/brutor").expanduser()
    # Per port: two gateways on one host never adopt (and write) each other's spooled rows.
    return root / f"port-{port}"


def default_config(env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Embedded defaults: loopback only, one key, and the offline provider so a new user gets an answer."""
    env = os.environ if env is None else env
    key = env.get("BRUTOR_API_KEY") or DEV_API_KEY
    return GatewayConfig.model_validate(
        {
            "keys": [{"id": "local", "key": key, "tenant": "local", "models": ["*"]}],
            "providers": [{"name": "offline", "type": "offline"}],
            "models": [
                {"name": "offline/echo", "provider": "offline", "type": "chat"},
                {"name": "offline/embed", "provider": "offline", "type": "embedding"},
            ],
        }
    )


def substitute_env(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; unknown variables are errors."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError([f"{path or '<root>'}: environment variable ${{{name}}} is not set"])

        return _ENV_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
    return value


def parse_text(text: str, *, toml: bool) -> Any:
    try:
        return tomllib.loads(text) if toml else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"<file>: not valid {'TOML' if toml else 'YAML'}: {exc}"]) from None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read, substitute and validate a config file; raise ``ConfigError`` naming every problem."""
    env = os.environ if env is None else env
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"<file>: cannot read {path}: {exc.strerror}"]) from None
    raw = parse_text(text, toml=path.suffix.lower() == ".toml")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["<root>: the file must hold a mapping of sections"])
    return validate(substitute_env(raw, env))


def validate(raw: dict[str, Any]) -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            [_describe(err) for err in exc.errors(include_url=False, include_input=False)]
        ) from None


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    # Pydantic prefixes messages raised by our validators; the key path already says where.
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
