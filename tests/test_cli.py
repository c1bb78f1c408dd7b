"""The command line: JSON output, grids, one-line errors with a non-zero exit."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"


def run_cli(*args):
  """The library's command line."""
  return subprocess.run([sys.executable, "-m", "dynloss_lib", *args], capture_output=True,
                        text=True, timeout=600)


def run_book_cli(*args):
  """The book's command line, run from book/ as the chapters are."""
  return subprocess.run([sys.executable, "-m", "dynloss_book", *args], capture_output=True,
                        text=True, timeout=600, cwd=BOOK)


def test_spiral_json_lines():
  out = run_cli("spiral", "--amplitude", "1,70", "--period", "50", "--steps", "120",
                "--seeds", "0-1", "--json", "--no-progress", "--last-cycle-static")
  assert out.returncode == 0, out.stderr
  lines = [json.loads(line) for line in out.stdout.splitlines()]
  assert [(l["config"]["amplitude"], l["config"]["seed"]) for l in lines] == [
      (1.0, 0), (1.0, 1), (70.0, 0), (70.0, 1)]
  for line in lines:
    assert set(line) >= {"config", "train_accuracy", "loss", "static_loss", "diverged",
                         "wall_seconds"}
    assert line["config"]["last_cycle_static"] is True and line["diverged"] is False
    assert 0 <= line["train_accuracy"] <= 1


def test_table_output_and_divergence_column():
  out = run_cli("spiral", "--amplitude", "1", "--steps", "50", "--learning-rate", "1e300",
                "--no-progress")
  assert out.returncode == 0, out.stderr
  assert "train acc" in out.stdout and "@" in out.stdout.splitlines()[1]


@pytest.mark.parametrize("args,needle", [
    (["spiral", "--amplitude", "0.5"], "amplitude=0.5"),
    (["spiral", "--period", "0"], "period=0"),
    (["spiral", "--steps", "0"], "steps=0"),
    (["spiral", "--learning-rate", "-1"], "learning_rate=-1.0"),
    (["spiral", "--seeds", "x"], "'x'"),
    (["spiral", "--width", "0"], "width=0"),
    (["spiral", "--batch-size", "0"], "batch_size=0"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_one_line_error(args, needle):
  out = run_cli(*args)
  assert out.returncode == 2
  assert "Traceback" not in out.stderr
  assert len(out.stderr.strip().splitlines()) == 1 and needle in out.stderr


def test_help_documents_every_option():
  out = run_cli("spiral", "--help")
  assert out.returncode == 0
  for option in ("--width", "--amplitude", "--period", "--steps", "--learning-rate", "--seeds",
                 "--init", "--shape", "--start-mid", "--last-cycle-static", "--validation",
                 "--dtype", "--batch-size", "--json", "--no-progress"):
    assert option in out.stdout
  assert "regenerate" not in run_cli("--help").stdout  # the book's, not the library's
  assert "regenerate" in run_book_cli("--help").stdout


def test_regenerate_lists_and_refuses_unknown_names():
  out = run_book_cli("regenerate", "--list")
  assert out.returncode == 0
  names = out.stdout.split()
  assert {"spiral_seeds", "generalisation", "instability_threshold", "cifar10_myrtle5_64",
          "width1000_protocols"} <= set(names)
  out = run_book_cli("regenerate", "nonsense")
  assert out.returncode == 2 and "unknown experiment(s) ['nonsense']" in out.stderr
  assert len(out.stderr.strip().splitlines()) == 1


def test_regenerate_only_missing_computes_nothing_when_all_is_stored():
  # Every result of the phase diagram at width 100 is committed: --only-missing loads them.
  out = run_book_cli("regenerate", "phase_width100", "--only-missing")
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "== phase_width100"
  assert "spiral runs" not in out.stderr  # no progress bar: nothing was computed
