"""How many A+ posts the parser reads per second.

Two figures, on the typical three-ticker posts of the corpus (2025-05-28, 2025-05-29 and
2025-06-02, 18 signals and 3 biases each):

* **in process**: ``parse_message`` in a loop on one core. Measured twice: on the corpus
  posts as they are (every price has been seen before, so the tokenizer's chunk cache
  answers), and on copies whose prices are all shifted ("fresh prices", as on a new day:
  every price is new to the cache);
* **through the command**: ``python -m bot parse --json`` over many copies in one
  subprocess, minus the start-up time measured with one file.

Run ``python benchmarks/parse.py`` (``--json`` prints one JSON object). The best of several
rounds is reported, since other processes on the machine only ever slow a round down.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / ".." / "shared" / "corpus" / "aplus"
TYPICAL = ("2025-05-28_full_date.txt", "2025-05-29_below_above.txt", "2025-06-02_edited_marker.txt")
POSTED = datetime(2025, 6, 2, 13, 0, tzinfo=UTC)
ORIGINAL_PARSER = 3_600  # msg/s, the app this replaces, measured on the same machine

sys.path.insert(0, str(REPO))

from core.parsing import parse_message  # noqa: E402 - after the path is set for direct runs

_PRICE = re.compile(r"\d+\.\d+")


def load_typical() -> list[str]:
    return [(CORPUS / name).read_text(encoding="utf-8") for name in TYPICAL]


def with_fresh_prices(messages: list[str], count: int) -> list[str]:
    """Return ``count`` copies of the messages, each with every price shifted by a new cent."""
    out = []
    for index in range(count):
        shift = Decimal(index + 1) / 100
        text = messages[index % len(messages)]
        out.append(_PRICE.sub(lambda m, s=shift: str(Decimal(m.group()) + s), text))
    return out


def in_process(messages: list[str], rounds: int = 5, per_round: int = 600) -> float:
    """Return the best messages-per-second over ``rounds`` loops of ``per_round`` parses."""
    for text in messages[:3]:
        parse_message(text, POSTED)  # warm up imports and the vocabulary
    best = 0.0
    for round_no in range(rounds):
        batch = [messages[(round_no * per_round + i) % len(messages)] for i in range(per_round)]
        start = time.perf_counter()
        for text in batch:
            parse_message(text, POSTED)
        best = max(best, per_round / (time.perf_counter() - start))
    return best


def _run_cli(files: list[str]) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "parse", "--json", "--posted-at", POSTED.isoformat(),
         *files],
        cwd=REPO, env=env, capture_output=True, check=True,
    )
    elapsed = time.perf_counter() - start
    return elapsed, done.stdout.count(b"\n")


def through_cli(messages: list[str], copies: int, rounds: int = 5) -> dict[str, float]:
    """Time ``parse --json`` over ``copies`` files in one process, start-up subtracted.

    Both times are the best of ``rounds`` runs; the start-up (``parse`` of one file, a third
    of a second now that ``parse`` imports only the parser and the settings) is small beside
    the run, so its noise moves the figure little.
    """
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for index in range(copies):
            path = Path(tmp) / f"post_{index:05d}.txt"
            path.write_text(messages[index % len(messages)], encoding="utf-8")
            files.append(str(path))
        startup = min(_run_cli(files[:1])[0] for _ in range(rounds))
        total = float("inf")
        for _ in range(rounds):
            elapsed, lines = _run_cli(files)
            if lines != copies:
                raise RuntimeError(f"parse printed {lines} lines for {copies} files")
            total = min(total, elapsed)
    return {
        "files": copies,
        "startup_s": round(startup, 3),
        "total_s": round(total, 3),
        "msg_per_s": round(copies / max(total - startup, 1e-9)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--copies", type=int, default=2000, help="files for the command run")
    parser.add_argument("--rounds", type=int, default=5, help="in-process rounds (best kept)")
    args = parser.parse_args(argv)

    typical = load_typical()
    results = {
        "python": sys.version.split()[0],
        "in_process_msg_per_s": round(in_process(typical, args.rounds)),
        "in_process_fresh_prices_msg_per_s": round(
            in_process(with_fresh_prices(typical, 3000), args.rounds)
        ),
        "cli": through_cli(typical, args.copies),
        "targets": {"in_process_msg_per_s": 10_000, "cli_msg_per_s": 5_000},
        "original_parser_msg_per_s": ORIGINAL_PARSER,
    }
    if args.json:
        print(json.dumps(results))
        return 0
    cli = results["cli"]
    print("A+ parser throughput (typical three-ticker posts, one core)")
    print(f"  in process, corpus posts:      {results['in_process_msg_per_s']:>8,} msg/s")
    print(f"  in process, fresh prices:      {results['in_process_fresh_prices_msg_per_s']:>8,} msg/s")
    print(
        f"  parse --json, {cli['files']:,} files:     {cli['msg_per_s']:>8,} msg/s  "
        f"({cli['total_s']} s total, {cli['startup_s']} s start-up subtracted)"
    )
    print(f"  targets: 10,000 in process, 5,000 through the command; original parser "
          f"{ORIGINAL_PARSER:,} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
