from __future__ import annotations

import asyncio

from brutor.assemble import build_gateway
from brutor.config import GatewayConfig
from brutor.reload import apply


def cfg(rpm: int | None, backend: str = "memory") -> GatewayConfig:
    limits: dict[str, object] = {"backend": backend}
    if rpm is not None:
        limits["tenants"] = {"t": {"rpm": rpm}}
    return GatewayConfig.model_validate(
        {
            "server": {"access_log": "off"},
            "keys": [{"id": "k", "key": "sk-reload-0123456789", "tenant": "t"}],
            "limits": limits,
            "providers": [{"name": "offline", "type": "offline"}],
            "models": [{"name": "m", "provider": "offline"}],
        }
    )


def test_limit_values_reload_on_the_same_limiter_backend_changes_wait() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        gw = build_gateway(cfg(5))
        assert gw.limits is not None
        limiter = gw.limits.limiter
        await apply(gw, cfg(7), None, loop)
        assert gw.limits is not None and gw.limits.limiter is limiter  # counters survive
        assert gw.config.limits.tenants["t"].rpm == 7
        await apply(gw, cfg(9, backend="redis"), None, loop)
        assert gw.limits is not None and gw.limits.limiter is limiter  # backend change needs a restart
        assert gw.config.limits.backend == "memory"
        await apply(gw, cfg(None), None, loop)
        assert gw.limits is None
        await gw.aclose()

    asyncio.run(go())
