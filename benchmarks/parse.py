"""How many A+ posts the parser reads per second.

Two figures, on the typical three-ticker posts of the corpus (2025-05-28, 2025-05-29 and
2025-06-02, 18 signals and 3 biases each):

* **in process**: ``parse_message`` in a loop on one core. Measured twice: on the corpus
  posts as they are (every price has been seen before, so the tokenizer's chunk cache
  answers), and on copies whose prices are all shifted ("fresh prices", as on a new day:
  every price is new to the cache);
* **through the command**: ``python -m bot parse --json`` in one subprocess over many
  fresh-price copies, as the extra files over the extra time between a run of N files and one
  of 3N (start-up cancels out).

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
    """Time ``parse --json`` in one process over ``copies`` files and over three times as many.

    The files are fresh-price copies (every price new, as on a new day). The rate is the extra
    files over the extra time, so what a run pays once (start-up: the interpreter, the imports,
    the settings) cancels out exactly instead of being measured apart and subtracted. Each time
    is the best of ``rounds`` runs; the one-file run is timed too, for the record.
    """
    small, big = copies, 3 * copies
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for index, text in enumerate(with_fresh_prices(messages, big)):
            path = Path(tmp) / f"post_{index:05d}.txt"
            path.write_text(text, encoding="utf-8")
            files.append(str(path))

        def best(count: int) -> float:
            least = float("inf")
            for _ in range(rounds):
                elapsed, lines = _run_cli(files[:count])
                if lines != count:
                    raise RuntimeError(f"parse printed {lines} lines for {count} files")
                least = min(least, elapsed)
            return least

        startup = best(1)
        t_small, t_big = best(small), best(big)
    rate = (big - small) / max(t_big - t_small, 1e-9)
    return {
        "files": [small, big],
        "startup_s": round(startup, 3),
        "total_s": [round(t_small, 3), round(t_big, 3)],
        "msg_per_s": round(rate),
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
        f"  parse --json, fresh prices:     {cli['msg_per_s']:>8,} msg/s  "
        f"({cli['files'][0]:,} files in {cli['total_s'][0]} s, {cli['files'][1]:,} in "
        f"{cli['total_s'][1]} s; one file {cli['startup_s']} s)"
    )
    print(f"  targets: 10,000 in process, 5,000 through the command; original parser "
          f"{ORIGINAL_PARSER:,} msg/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
