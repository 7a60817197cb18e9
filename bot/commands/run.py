"""``python -m bot run [--broker sim|alpaca|auto]``: start the Discord bot."""

from __future__ import annotations

import argparse
import asyncio
import logging

from core.config import BrokerMode, Settings, load_settings
from core.errors import ConfigError

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``run`` subcommand."""
    p = subparsers.add_parser(
        "run", help="start the Discord bot",
        description="Connect to Discord and trade the setups posted in the setup channels. "
                    "Needs DISCORD_TOKEN; trades the simulated exchange unless Alpaca keys are set.")
    p.add_argument("--broker", choices=[m.value for m in BrokerMode], default=None,
                   help="override BROKER: sim trades the simulated exchange (no keys needed)")
    p.set_defaults(func=run)


def check_ready(settings: Settings) -> str:
    """Return the token, or raise :class:`ConfigError` saying what to set."""
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""
    if not token.strip():
        raise ConfigError("DISCORD_TOKEN is not set: put the bot token in .env or the "
                          "environment (see .env.example), then run again")
    if not settings.setup_channel_ids:
        log.warning("SETUP_CHANNEL_IDS is empty: no setup posts will be read until an admin "
                    "adds a channel with /admin channel add")
    if settings.broker is BrokerMode.ALPACA and not settings.has_alpaca_keys:
        raise ConfigError("BROKER=alpaca needs ALPACA_API_KEY and ALPACA_SECRET_KEY "
                          "(or use --broker sim)")
    return token


def settings_for(args: argparse.Namespace) -> Settings:
    """Return the settings with the command line's overrides (``--broker``) applied."""
    return load_settings(**({"broker": args.broker} if args.broker else {}))


def run(args: argparse.Namespace) -> int:
    """Build the services and run the bot until interrupted."""
    settings = settings_for(args)
    token = check_ready(settings)
    logging.getLogger().setLevel(settings.log_level.value)
    asyncio.run(_main(settings, token))
    return 0


async def _main(settings: Settings, token: str) -> None:
    from bot.app import AplusBot
    from bot.services import build_services

    services = await build_services(settings)
    log.info("broker: %s", services.broker_mode)
    bot = AplusBot(services)
    try:
        async with bot:
            await bot.start(token)
    finally:
        await services.close()
