"""The base of every config section: frozen, and unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    # Unknown keys are errors: a typo in a policy file must not silently disable a policy.
    model_config = ConfigDict(extra="forbid", frozen=True)
