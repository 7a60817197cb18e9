"""Fixtures for Discord tests: a test world and a harness factory that always cleans up.

``make_harness(bot, world=None, **options)`` connects any ``commands.Bot`` (the real
``AplusBot`` included) to a fresh fake Discord server; the fixture closes it after the test,
even when the test fails. ``world`` is the default :class:`~tests.discord.world.World`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from discord.ext import commands

from tests.discord.harness import Harness
from tests.discord.world import World

MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
def world() -> World:
    """The default test world (channels setup/trades/log/general; roles trader/admin/manager)."""
    return World.build()


@pytest.fixture
async def make_harness(world: World) -> AsyncIterator[MakeHarness]:
    """Return ``await make_harness(bot, world=None, **options)``; close it after the test."""
    started: list[Harness] = []

    async def make(bot: commands.Bot, world_: World | None = None, **options: Any) -> Harness:
        harness = await Harness.start(bot, world_ or world, **options)
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.close()
