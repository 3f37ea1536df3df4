"""The effective settings, each with where its value came from and what it means, secrets masked."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bridge.errors import ConfigError
from bridge.settings import Settings

MASK = "********"
_SECRET_NAME = re.compile(r"secret|password|token|key", re.IGNORECASE)


@dataclass(frozen=True)
class SettingView:
    """One setting as `bridge config show` prints it."""

    name: str
    env_var: str
    value: Any
    source: str  # default / env / bridge.toml / init
    description: str

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _toml_keys(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    try:
        return {k.lower() for k in tomllib.loads(path.read_text())}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _masked(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, SecretStr) or _SECRET_NAME.search(name):
        return MASK
    return value


def describe(settings: Settings, toml_path: Path | None = None) -> list[SettingView]:
    """Every setting with its effective value (masked when secret) and its source."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    env = {k.upper() for k in os.environ}
    toml_keys = _toml_keys(toml_path or Path(str(settings.model_config.get("toml_file", "bridge.toml"))))
    # Values passed to Settings(...) directly (tests, embedding code) win over env and toml.
    explicit = settings.model_fields_set
    out = []
    for name, info in type(settings).model_fields.items():
        env_var = f"{prefix}{name}".upper()
        if env_var in env:
            source = "env"
        elif name in toml_keys:
            source = "bridge.toml"
        elif name in explicit:
            source = "init"
        else:
            source = "default"
        out.append(
            SettingView(
                name=name,
                env_var=env_var,
                value=_masked(name, getattr(settings, name)),
                source=source,
                description=info.description or "",
            )
        )
    return out
