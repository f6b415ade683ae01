from __future__ import annotations

from pathlib import Path

import pytest

from brutor.config import DEV_API_KEY, ConfigError, default_config, is_loopback, load_config

GOOD = """
server: {port: 9000, access_log: "off"}
keys:
  - {id: a, key: "${KEY_A}", tenant: acme, models: ["gpt-*"]}
providers:
  - {name: up, type: openai, base_url: "${UP_URL:-http://127.0.0.1:1/v1}", api_key: "${UP_KEY}"}
models:
  - {name: gpt-x, provider: up, upstream_model: real-x}
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_env_substitution_and_defaults(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, GOOD), {"KEY_A": "sk-a-0123456789abcdef", "UP_KEY": "sk-up-secret-value"}
    )
    assert cfg.server.port == 9000
    assert cfg.keys[0].key.get_secret_value() == "sk-a-0123456789abcdef"
    assert cfg.providers[0].base_url == "http://127.0.0.1:1/v1"
    assert cfg.providers[0].timeouts.first_byte == 60.0
    assert cfg.models[0].upstream_model == "real-x"


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, GOOD), {"KEY_A": "sk-a-0123456789abcdef", "UP_KEY": "sk-up-secret-value"}
    )
    text = repr(cfg) + str(cfg.model_dump())
    assert "sk-a-0123456789abcdef" not in text
    assert "sk-up-secret-value" not in text


def test_missing_env_names_variable_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD), {"KEY_A": "sk-a-0123456789abcdef"})
    assert info.value.problems == ["providers.0.api_key: environment variable ${UP_KEY} is not set"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {port: 70000}", "server.port:"),
        ("server: {prot: 1}", "server.prot: Extra inputs are not permitted"),
        ("providers: [{name: p, type: openai}]", "providers.0: base_url: required"),
        (
            "providers: [{name: p, type: openai, base_url: 'ftp://x'}]",
            "providers.0.base_url: must be an http(s) URL",
        ),
        ("providers: [{name: p, type: nope}]", "providers.0.type:"),
        ("models: [{name: m, provider: ghost}]", "models.0.provider: unknown provider 'ghost'"),
        ("keys: [{id: k, key: short, tenant: t}]", "keys.0.key: API keys must be at least 16 characters"),
        ("[1, 2]", "<root>: the file must hold a mapping"),
        ("server: [", "not valid YAML"),
    ],
)
def test_invalid_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_duplicates_are_reported(tmp_path: Path) -> None:
    text = """
providers: [{name: p, type: offline}, {name: p, type: offline}]
keys:
  - {id: k1, key: same-secret-0123456789, tenant: t}
  - {id: k2, key: same-secret-0123456789, tenant: t}
"""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})
    assert "providers: duplicate name 'p'" in info.value.problems[0]
    assert "keys: two keys share the same secret" in info.value.problems[0]


def test_toml_is_accepted(tmp_path: Path) -> None:
    text = """
[server]
port = 8181
[[providers]]
name = "offline"
type = "offline"
[[models]]
name = "offline/echo"
provider = "offline"
"""
    cfg = load_config(write(tmp_path, text, "c.toml"), {})
    assert cfg.server.port == 8181
    assert cfg.models[0].type == "chat"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.yaml", {})
    assert "cannot read" in info.value.problems[0]


def test_embedded_defaults() -> None:
    cfg = default_config({})
    assert cfg.server.host == "127.0.0.1" and cfg.server.port == 8080
    assert cfg.uses_dev_key()
    assert {m.name for m in cfg.models} == {"offline/echo", "offline/embed"}
    custom = default_config({"BRUTOR_API_KEY": "sk-mine-0123456789abcdef"})
    assert not custom.uses_dev_key()
    assert custom.keys[0].key.get_secret_value() != DEV_API_KEY


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("a.b", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ({"name": "a", "issuer": "i"}, "set exactly one of jwks_url, jwks_file, pem_file, hs_secret"),
        (
            {"name": "a", "issuer": "i", "pem_file": "k.pem", "jwks_file": "k.json"},
            "set exactly one of",
        ),
        (
            {"name": "a", "issuer": "i", "pem_file": "k.pem", "algorithms": ["RS256", "HS256"]},
            "HS* algorithms need hs_secret",
        ),
        (
            {"name": "a", "issuer": "i", "hs_secret": "x" * 32, "algorithms": ["RS256"]},
            "an hs_secret issuer allows only HS256/HS384/HS512",
        ),
        (
            {"name": "a", "issuer": "i", "pem_file": "k.pem", "algorithms": ["none"]},
            "unknown or empty algorithms",
        ),
        ({"name": "a b", "issuer": "i", "pem_file": "k.pem"}, "jwt.issuers.0.name"),
        ({"name": "a", "issuer": "i", "jwks_url": "file:///etc/passwd"}, "must be an http(s) URL"),
    ],
)
def test_jwt_issuer_validation(tmp_path: Path, issuer: dict[str, object], expected: str) -> None:
    import yaml

    text = yaml.safe_dump({"jwt": {"issuers": [issuer]}})
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_jwt_defaults_and_reserved_key_ids(tmp_path: Path) -> None:
    text = """
jwt:
  issuers:
    - {name: hs, issuer: "svc", hs_secret: "0123456789abcdef0123456789abcdef"}
    - {name: idp, issuer: "https://idp", jwks_url: "https://idp/jwks"}
"""
    cfg = load_config(write(tmp_path, text), {})
    assert cfg.jwt.issuers[0].effective_algorithms == ("HS256",)
    assert "HS256" not in cfg.jwt.issuers[1].effective_algorithms
    bad = "keys: [{id: 'jwt:idp', key: sk-0123456789abcdef, tenant: t}]"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad), {})
    assert "'jwt:' is reserved" in info.value.problems[0]


def test_key_secret_sources(tmp_path: Path) -> None:
    h = "blake2b:" + "ab" * 32
    both = f"keys: [{{id: k, tenant: t, key: sk-0123456789abcdef, key_hash: '{h}'}}]"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, both), {})
    assert "set exactly one of key, key_hash" in info.value.problems[0]
    no_pepper = f"keys: [{{id: k, tenant: t, key_hash: '{h}'}}]"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, no_pepper), {})
    assert "server.key_pepper: required" in info.value.problems[0]
    naive = "keys: [{id: k, tenant: t, key: sk-0123456789abcdef, expires_at: '2027-01-01T00:00:00'}]"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, naive), {})
    assert "keys.0.expires_at: needs a time zone" in info.value.problems[0]
    ok = f"server: {{key_pepper: pepper-0123456789abcdef}}\nkeys: [{{id: k, tenant: t, key_hash: '{h}'}}]"
    assert load_config(write(tmp_path, ok), {}).keys[0].key is None


def test_limits_out_of_the_limiters_range_stop_start_up(tmp_path: Path) -> None:
    from brutor.context import Principal
    from brutor.limits.policy import LimitPolicy

    too_big = "limits: {tenants: {'*': {tpm: 1000000000000}}}"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, too_big), {})
    assert info.value.problems[0].startswith("limits.tenants.*.tpm:")
    # Every value the config accepts compiles into limiter specs (no failure at request time).
    edge = (
        "limits: {tenants: {'*': {rpm: 100000000000, tpm: 100000000000, concurrency: 1000000000000000,"
        " tokens_per_day: 1000000000000000, cost_per_month_usd: 1000000000}}}"
    )
    policy = LimitPolicy(load_config(write(tmp_path, edge), {}))
    assert len(policy.limits_for(Principal("k", "t"), "m").entries) == 5
