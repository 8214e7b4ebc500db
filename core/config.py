"""Settings for every entry point (CLI, service, Python).

Precedence, highest first:

1. explicit arguments (CLI flags, or keyword arguments to :func:`load_settings`);
2. environment variables ``HYPODISC_<FIELD>`` (e.g. ``HYPODISC_BACKEND=vllm``);
3. a TOML file: ``$HYPODISC_CONFIG`` if set, else ``~/.config/hypodisc/config.toml`` if it exists;
4. the defaults below.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from hypodisc.errors import ConfigError, pydantic_problem

BackendName = Literal["llamacpp", "vllm", "openai"]


#: a TOML file given to one load_settings call (the CLI's --config); scoped to that call, so nothing is
#: written to the process environment
_given_config: ContextVar[Path | None] = ContextVar("hypodisc_config_file", default=None)


def default_config_path() -> Path:
    given = _given_config.get()
    if given is not None:
        return given
    env = os.environ.get("HYPODISC_CONFIG")
    return Path(env).expanduser() if env else Path("~/.config/hypodisc/config.toml").expanduser()


class Settings(BaseSettings):
    """Everything a backend needs to be built; one flat namespace for flags, env and TOML."""

    model_config = SettingsConfigDict(env_prefix="HYPODISC_", extra="forbid", protected_namespaces=())

    home: Path = Field(Path("~/.cache/hypodisc").expanduser(), description="model store and caches")
    backend: BackendName = Field("llamacpp", description="llamacpp (CPU default), vllm (GPU), openai (HTTP server)")
    model: str | None = Field(
        None,
        description="registered name, local .gguf / HF directory, or hub id (vllm); default qwen2.5-coder-1.5b, "
        "or for openai the server's first model",
    )
    n_ctx: int = Field(4096, ge=256, description="context window for llamacpp")
    n_threads: int | None = Field(None, ge=1, description="llamacpp CPU threads (default: all cores)")
    n_batch: int = Field(512, ge=8, description="llamacpp prompt-processing batch")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="openai: server URL ending in /v1")
    api_key: str | None = Field(None, description="openai: bearer token, if the server wants one")
    timeout_s: float = Field(120.0, gt=0, description="openai: per-request timeout")
    max_retries: int = Field(3, ge=0, le=10, description="openai: retries on connection errors and 5xx")
    max_concurrency: int = Field(8, ge=1, description="openai: requests in flight at once")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm: fraction of accelerator memory")
    max_model_len: int | None = Field(None, ge=256, description="vllm: context length (default: the model's)")
    dtype: str = Field("auto", description="vllm: weight dtype")
    enforce_eager: bool = Field(False, description="vllm: skip graph capture/compilation (faster start, slower steady state)")
    seed: int = Field(0, description="seed for sampling and splits")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=default_config_path()))


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings; ``None`` overrides are ignored so unset CLI flags fall through.

    ``config`` names the TOML file for this call only (else ``$HYPODISC_CONFIG`` or the default path).
    """
    token = _given_config.set(Path(config).expanduser()) if config is not None else None
    try:
        return _load(overrides)
    finally:
        if token is not None:
            _given_config.reset(token)


def _load(overrides: dict[str, Any]) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    path = default_config_path()
    if path.exists():
        try:
            tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}", fix="correct or remove the file") from None
    try:
        return Settings(**given)
    except ValidationError as exc:
        problem = pydantic_problem(exc)
        where = ".".join(str(p) for p in problem.loc) or "settings"
        raise ConfigError(
            f"invalid setting {where}: {problem.msg}",
            fix=f"check the --{where.replace('_', '-')} flag, HYPODISC_{where.upper()} or {path}",
        ) from None
