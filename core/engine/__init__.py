"""The trading engine: watched levels, triggers, bias, risk and exits.

Submodules are pure and synchronous where they can be (triggers, bias, risk, exits); the
orchestrator that feeds them prices and publishes events lives beside them.
"""
