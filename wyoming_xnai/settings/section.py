"""What every settings section shares: each field is an environment variable and a CLI flag.

A field `asr_model` is the variable `XNAI_ASR_MODEL` (also read from `.env`) and the flag `--model` of
`xnai asr` or `--asr-model` of `xnai serve`: flags are generated from the fields, so a flag and its
variable cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Section(BaseSettings):
    """The settings one component reads, and only those.

    `prefix` is the component's name at the start of its own fields (`asr` in `asr_model`): the single-service
    commands show those flags without it (`xnai asr --model`), the commands of several services with it.
    """

    prefix: ClassVar[str] = ""
    model_config = SettingsConfigDict(env_prefix="XNAI_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    @classmethod
    def load(cls, given: Mapping[str, Any]) -> Self:
        """The section from the given values (CLI flags) first, then the environment, `.env` and the defaults;
        given values of fields the section does not have are left out."""
        return cls(**{name: value for name, value in given.items() if name in cls.model_fields})
