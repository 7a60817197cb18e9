"""Ingesting setup messages: parse, store, and keep their signals in step with edits."""

from core.setups.store import IncomingMessage, IngestOutcome, IngestResult, SetupStore, SignalChange

__all__ = ["IncomingMessage", "IngestOutcome", "IngestResult", "SetupStore", "SignalChange"]
