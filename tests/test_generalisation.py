"""The generalisation study's logic (stages, choice, stopping rule) on a fake store.

Real runs take a minute each at width 1000, so these tests replace the store
with a function of the configuration: each fake run's validation accuracy is
chosen by the test, so the stopping rule and the bookkeeping can be checked
exactly.
"""

import types

import numpy as np
import pytest

from dynloss_book import spiral
from dynloss_book import generalisation as g


class FakeStore:
  """Stored runs as a function ``val(config) -> float``; remembers what was computed."""

  def __init__(self, val, stored=lambda config: True):
    self.val, self.stored, self.computed = val, stored, []

  def run(self, config):
    final = {"val_accuracy": self.val(config), "train_accuracy": 0.993, "diverged": False}
    return types.SimpleNamespace(config=config, final=final)

  def load_runs(self, directory, configs, recompute=False, progress=True, devices=None,
                cpu_isa="AVX2"):
    self.computed += [c for c in configs if not self.stored(c)]
    return [self.run(c) for c in configs]

  def stored_runs(self, directory, configs, cpu_isa="AVX2"):
    return [self.run(c) if self.stored(c) else None for c in configs]


@pytest.fixture
def fake(monkeypatch):
  def install(val, stored=lambda config: True):
    store = FakeStore(val, stored)
    for module in (g, spiral):  # the study's own calls, and spiral.runs_for's
      monkeypatch.setattr(module, "load_runs", store.load_runs, raising=False)
      monkeypatch.setattr(module, "stored_runs", store.stored_runs, raising=False)
    return store
  return install


def _noise(seed):
  return np.random.default_rng(seed).normal()


def test_stages_use_disjoint_seeds():
  stages = [set(g.SCREEN_SEEDS) | set(g.WIDTH_SEEDS), set(g.CONFIRM_SEEDS), set(g.FOLLOW_UP_SEEDS)]
  assert set(g.WIDTH_SEEDS) <= set(g.SCREEN_SEEDS)  # width 1000 reuses the screen's runs
  for i, a in enumerate(stages):
    for b in stages[i + 1:]:
      assert not a & b
  assert len(g.CONFIRM_SEEDS) >= g.CONFIRM_MAX_SEEDS <= len(g.FOLLOW_UP_SEEDS)


def test_confirm_stops_at_16_pairs_when_the_interval_is_narrow(fake):
  # Dynamical runs 0.002 above static on every seed: the interval has width 0.
  fake(lambda c: 0.95 + (0.002 if c.amplitude > 1 else 0.0))
  result = g.confirm("unused", (2.0, 1000))
  assert result.complete and result.seeds == g.CONFIRM_SEEDS[:16]
  assert result.gain.mean == pytest.approx(0.002) and result.gain.half_width < 1e-12
  assert result.gain.verdict() == "above 0"


def test_confirm_adds_8_seeds_at_a_time_until_the_half_width_is_met(fake):
  # Paired differences of standard deviation 0.008: the half-width of a 95% interval is about
  # 1.96 * 0.008 / sqrt(n), above 0.004 at n = 16, below it at n = 24 or so.
  store = fake(lambda c: 0.95 + (0.008 * _noise(c.seed) if c.amplitude > 1 else 0.0))
  result = g.confirm("unused", (2.0, 1000))
  n = len(result.seeds)
  assert result.complete and n in (24, 32, 40, 48) and result.gain.half_width <= 0.004
  assert result.seeds == g.CONFIRM_SEEDS[:n]
  shorter = g.stats.paired_bootstrap(result.val[:n - 8], result.static_val[:n - 8])
  assert shorter.half_width > 0.004  # it stopped at the first block that met the rule
  assert all(c.width == g.WIDTH for c in store.computed)


def test_confirm_gives_up_at_48_seeds(fake):
  fake(lambda c: 0.95 + (0.05 * _noise(c.seed) if c.amplitude > 1 else 0.0))
  result = g.confirm("unused", (2.0, 1000))
  assert result.complete and len(result.seeds) == g.CONFIRM_MAX_SEEDS
  assert result.gain.half_width > 0.004


def test_load_only_reports_a_partial_confirmation(fake):
  # 20 pairs stored, noisy: the rule wants 24, so the result covers 20 and is not complete.
  fresh = set(g.CONFIRM_SEEDS[:20]) | set(g.SCREEN_SEEDS) | set(g.FOLLOW_UP_SEEDS)
  fake(lambda c: 0.95 + (0.008 * _noise(c.seed) if c.amplitude > 1 else 0.0),
       stored=lambda c: c.seed in fresh)
  result = g.confirm("unused", (2.0, 1000), compute=False)
  assert not result.complete and result.seeds == g.CONFIRM_SEEDS[:20]
  counts = g.stored_counts("unused")
  assert counts["confirmation"] == (40, 48)
  assert counts["screen"] == (114, 114) and counts["width sweep"] == (45, 45)


def test_follow_up_is_width_300_and_the_paper_cell_on_its_own_seeds(fake):
  store = fake(lambda c: 0.95 + (0.01 if c.amplitude > 1 else 0.0), stored=lambda c: False)
  result = g.follow_up("unused")
  assert result.cell == g.PAPER_CELL and result.seeds == g.FOLLOW_UP_SEEDS[:16]
  assert {c.width for c in store.computed} == {g.FOLLOW_UP_WIDTH}
  assert {(c.amplitude, c.period) for c in store.computed} == {(1.0, g.STATIC_PERIOD),
                                                                g.PAPER_CELL}
  assert {c.validation_draws for c in store.computed} == {g.VALIDATION_DRAWS}


def test_the_whole_study_chooses_the_best_screened_cell(fake):
  # Only (A = 3, T = 250) gains; the confirmation and the sweep then use that cell.
  fake(lambda c: 0.95 + (0.004 if (c.amplitude, c.period) == (3.0, 250) else 0.0))
  study = g.generalisation("unused", progress=False)
  assert study.cell == (3.0, 250) and study.confirmation.cell == (3.0, 250)
  assert study.widths.labels[1] == "chosen cell A=3, T=250"
  assert "best of 18 screened cells (A = 3, T = 250)" in g.sentence(study)
  assert g.follow_up_sentence(study).endswith("over 16 fresh paired seeds: no effect "
                                              "resolvable (none larger than 0).")
  assert len(g.study_runs("unused", study)) == 114 + 30 + 32 + 32


def test_confirm_refuses_too_few_seeds():
  with pytest.raises(ValueError, match="at least 48 seeds, got 3"):
    g.confirm("unused", (2.0, 1000), seeds=(1, 2, 3))
