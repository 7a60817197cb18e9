"""``python -m bot parse`` as a user runs it: files in, one JSON object per file out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "corpus" / "aplus"

CONTRACT_KEYS = ["trading_date", "setups", "warnings"]
SETUP_KEYS = ["symbol", "signals", "bias"]
SIGNAL_KEYS = ["category", "aggressiveness", "comparison", "trigger", "targets"]
BIAS_KEYS = ["direction", "condition", "price", "flip", "text"]
FLIP_KEYS = ["direction", "price"]


def run_parse(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "DISCORD_"))}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "bot", "parse", *args],
        cwd=cwd, env=env, input=stdin, capture_output=True, text=True, encoding="utf-8",
        timeout=120, check=False,
    )


def corpus(name: str) -> str:
    return str((CORPUS / name).resolve())


def test_json_gives_one_contract_object_per_file_in_order(tmp_path: Path) -> None:
    out = run_parse(
        "--json", "--posted-at", "2025-06-02T12:00:00+00:00",
        corpus("2025-06-02_edited_marker.txt"),
        corpus("2025-05-13_long_short_wording.txt"),
        corpus("undated_agg_con_shorthand.txt"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    objects = [json.loads(line) for line in lines]
    assert [o["trading_date"] for o in objects] == ["2025-06-02", "2025-05-13", None]
    for obj in objects:
        assert list(obj) == CONTRACT_KEYS
        for setup in obj["setups"]:
            assert list(setup) == SETUP_KEYS
            for signal in setup["signals"]:
                assert list(signal) == SIGNAL_KEYS
            if setup["bias"] is not None:
                assert list(setup["bias"]) == BIAS_KEYS
                if setup["bias"]["flip"] is not None:
                    assert list(setup["bias"]["flip"]) == FLIP_KEYS
    spy = objects[0]["setups"][0]
    assert spy["symbol"] == "SPY"
    assert spy["signals"][0] == {
        "category": "rejection", "aggressiveness": "none", "comparison": "near",
        "trigger": 591.82, "targets": [589.1, 586.2, 583.4],
    }
    assert spy["signals"][5]["trigger"] == [579.4, 580.2]
    assert objects[1]["setups"][0]["bias"]["flip"] == {"direction": "bearish", "price": 579.6}
    assert objects[0]["setups"][0]["bias"]["direction"] is None  # a narrative bias


def test_stdin_dash_and_discord_message_objects(tmp_path: Path) -> None:
    text = (CORPUS / "2025-06-06_no_below_above.txt").read_text(encoding="utf-8")
    out = run_parse(
        "--json", "-", corpus("2025-06-11_gateway_payload.json"),
        cwd=tmp_path, stdin=text,
    )
    assert out.returncode == 0, out.stderr
    from_stdin, from_payload = (json.loads(line) for line in out.stdout.splitlines())
    # "Jun 6" has no year and no posted time is given: the current year is used.
    assert from_stdin["trading_date"].endswith("-06-06")
    assert [s["symbol"] for s in from_stdin["setups"]] == ["SPY", "NVDA", "TSLA"]
    # The payload's content is read and its timestamp is the posted time.
    assert from_payload["trading_date"] == "2025-06-11"
    assert [s["symbol"] for s in from_payload["setups"]] == ["SPY", "TSLA", "NVDA"]
    assert from_payload["warnings"] == []


def test_unreadable_files_fail_with_a_reason_and_the_others_are_still_printed(
    tmp_path: Path,
) -> None:
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"A+ Trade Setups \xff\xfe\n")
    out = run_parse(
        "--json", str(tmp_path / "missing.txt"), corpus("2025-05-14_numbered_parentheses.txt"),
        str(tmp_path), str(binary), corpus("2025-05-12_divider.txt"),
        cwd=tmp_path,
    )
    assert out.returncode != 0
    dates = [json.loads(line)["trading_date"] for line in out.stdout.splitlines()]
    assert len(dates) == 2 and dates[0].endswith("-05-14") and dates[1].endswith("-05-12")
    errors = out.stderr.splitlines()
    assert len(errors) == 3
    assert "missing.txt" in errors[0] and "No such file" in errors[0]
    assert "is a directory" in errors[1]
    assert "binary.txt" in errors[2] and "not UTF-8" in errors[2]


def test_many_files_print_in_order_and_an_unreadable_ones_reason_comes_in_its_place(
    tmp_path: Path,
) -> None:
    # Output goes out in batches of files; the reason for a bad file still follows the files
    # before it and precedes the files after it.
    text = Path(corpus("2025-05-14_numbered_parentheses.txt")).read_text(encoding="utf-8")
    names = []
    for index in range(150):
        path = tmp_path / f"post_{index:03d}.txt"
        # each file's first trigger tells it apart: 588.87 becomes 1000.00 + its index
        path.write_text(text.replace("Near 588.87", f"Near {1000 + index}.00", 1), encoding="utf-8")
        names.append(str(path))
    names.insert(100, str(tmp_path / "missing.txt"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "DISCORD_"))}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run(
        [sys.executable, "-m", "bot", "parse", "--json", *names], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False)
    lines = out.stdout.decode("utf-8").splitlines()
    assert out.returncode == 1 and len(lines) == 151
    assert "missing.txt" in lines[100] and "No such file" in lines[100]
    printed = [json.loads(line) for i, line in enumerate(lines) if i != 100]
    assert [p["setups"][0]["signals"][0]["trigger"] for p in printed] == [
        1000.0 + index for index in range(150)]


def test_files_without_setups_exit_zero(tmp_path: Path) -> None:
    chatter = tmp_path / "chatter.txt"
    chatter.write_text("SPY looking strong today, watching the open\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    out = run_parse("--json", str(chatter), str(empty), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    objects = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(o["trading_date"], o["setups"]) for o in objects] == [(None, []), (None, [])]


def test_summary_lists_signals_bias_and_warnings(tmp_path: Path) -> None:
    out = run_parse(
        "--posted-at", "2025-06-12T12:00:00Z", corpus("undated_agg_con_shorthand.txt"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = out.stdout
    assert "SPY" in summary
    assert "breakdown  aggressive   below  561.70" in summary
    assert "targets 560.00, 558.50, 555.80" in summary
    assert (
        'bias: bearish below 562.25 (flips bullish at 564.10): '
        '"Bearish bias below 562.25; flips bullish on 564.10 reclaim"'
    ) in summary
    assert "warnings:" in summary and "3 rejection levels and no targets" in summary


def test_bad_posted_at_is_a_usage_error(tmp_path: Path) -> None:
    out = run_parse("--posted-at", "yesterday", corpus("2025-05-12_divider.txt"), cwd=tmp_path)
    assert out.returncode == 2
    assert "not an ISO 8601 date-time" in out.stderr
