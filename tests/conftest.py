"""Shared test fixtures: real servers on loopback, real speech."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
