"""Width 1000 across the protocol's free choices: the final static phase and the validation draw.

The generalisation study (:mod:`~dynloss_book.generalisation`) ends every run
with its last cycle static, so a run with T = 5000 ends on about 4,990 static steps,
T = 1000 on 931 and T = 250 on 222, and measures validation accuracy on one
3,000-point set. An independent re-implementation of the protocol found a gain of
the other sign at width 1000. This study asks whether the width-1000 verdict
survives two choices the paper does not fix. Its design, fixed before any of its
runs:

1. **Two protocols.** ``"last cycle"``: the stored runs (the last cycle static).
   ``"fixed"``: the same runs with the last :data:`FINAL_STATIC_STEPS` steps static
   for every T (from step 60,000 of 70,000). The static loss (A = 1) is the same
   under both, so both protocols pair with the same stored static runs.
2. **Two validation draws.** ``"A"``: the stored validation accuracy (draws 0-9 of
   :func:`dynloss_lib.data.spiral_validation`, 3,000 points); ``"B"``: draws 10-19, an
   independent 3,000-point set, evaluated on each run's stored final parameters.
3. **Screen.** The generalisation screen's cells with A <= 3 (A in
   :data:`AMPLITUDES`, T in :data:`PERIODS`) on its seeds 0-5, under the fixed
   protocol. Descriptive: it shows whether the protocol moves the cells' gains; it
   chooses nothing (the confirmed cell stays the one the original screen chose).
4. **Confirmation.** The confirmed cell :data:`CELL` on the confirmation's fresh seeds,
   starting with its 16 (seeds 100-115), then 8 more at a time while the fixed
   protocol's interval (draw A) is wider than :data:`TARGET_HALF_WIDTH` on a side, up
   to :data:`MAX_SEEDS`. A seed added here gets all three runs (static, last cycle,
   fixed), so both protocols are compared on the same seeds.
5. **Report.** For each protocol and draw, the mean paired gain (dynamical minus
   static) with its 95% bootstrap interval; the protocol's effect (fixed minus last
   cycle, paired by seed) and the draw's (gain on A minus gain on B, paired by seed).
   The verdict bounds the effect by the largest |bound| of the four intervals.

Every run: width 1000, the paper's initialisation, learning rate 1, float64, 70,000
steps (the generalisation study's :func:`~dynloss_book.generalisation.study_config`).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from dynloss_lib import data, experiments
from dynloss_book import stats
from dynloss_book import generalisation as gen
from dynloss_book.spiral import load_runs, runs_for, stored_runs

WIDTH = gen.WIDTH
FINAL_STATIC_STEPS = 10_000
AMPLITUDES = tuple(a for a in gen.AMPLITUDES if a <= 3)
PERIODS = gen.PERIODS
SCREEN_SEEDS = gen.SCREEN_SEEDS
CELL = (2.0, 1000)
"""The cell the generalisation screen chose and its confirmation tested (not re-chosen)."""
CONFIRM_SEEDS = gen.CONFIRM_SEEDS
FIRST_SEEDS = 16
STEP_SEEDS = 8
MAX_SEEDS = 48
TARGET_HALF_WIDTH = 0.0025
ARMS = ("static", "last cycle", "fixed")
PROTOCOLS = ARMS[1:]
DRAWS = ("A", "B")
SECOND_DRAW = gen.VALIDATION_DRAWS
"""Draw B is draws ``SECOND_DRAW`` to ``2 * SECOND_DRAW - 1`` (noise seeds 1010-1019)."""


def arm_config(arm: str, amplitude: float, period: int, seed: int):
  """The run of ``arm`` (one of :data:`ARMS`) for a cell and seed.

  Examples:
    >>> arm_config("fixed", 2.0, 1000, 100).static_from
    60000
    >>> arm_config("last cycle", 2.0, 1000, 100).static_from
    69069
    >>> arm_config("static", 2.0, 1000, 100) == arm_config("static", 3.0, 250, 100)
    True
  """
  if arm == "static":
    return gen.study_config(WIDTH, 1.0, gen.STATIC_PERIOD, seed)
  config = gen.study_config(WIDTH, amplitude, period, seed)
  if arm == "fixed":
    return config.replace(last_cycle_static=False, final_static_steps=FINAL_STATIC_STEPS)
  if arm != "last cycle":
    raise ValueError(f"arm must be one of {ARMS}, got {arm=}")
  return config


@functools.lru_cache(maxsize=1)
def _second_draw(seed_config):
  x, y = data.spiral_validation(seed_config.points_per_class, seed_config.num_classes,
                                seed_config.revolutions, seed_config.noise,
                                seed_config.data_seed, draws=gen.VALIDATION_DRAWS,
                                first_draw=SECOND_DRAW)
  return x, y


def validation_accuracy(run, draw: str) -> float:
  """A stored run's validation accuracy on draw ``"A"`` (as stored) or ``"B"``.

  Draw B is computed from the run's stored final parameters on the second
  3,000-point set (draws 10-19 of :func:`dynloss_lib.data.spiral_validation`).
  """
  if draw == "A":
    return float(run.final["val_accuracy"])
  if draw != "B":
    raise ValueError(f"draw must be one of {DRAWS}, got {draw=}")
  c = run.config
  x, y = _second_draw(experiments.SpiralConfig(
      points_per_class=c.points_per_class, num_classes=c.num_classes,
      revolutions=c.revolutions, noise=c.noise, data_seed=c.data_seed))
  return float(np.mean(experiments.predict_classes(c, run.params, x) == y))


@dataclasses.dataclass
class Arms:
  """The three arms of one cell on the same seeds.

  Attributes:
    cell: (A, T).
    seeds: the seeds (index-aligned in every array).
    val: ``(arm, draw) -> (seeds,)`` final validation accuracy.
    train: ``arm -> (seeds,)`` final train accuracy.
    diverged: ``arm -> (seeds,)`` True where a run diverged.
  """
  cell: tuple
  seeds: tuple
  val: dict
  train: dict
  diverged: dict

  def gain(self, protocol: str, draw: str = "A") -> stats.Interval:
    """Paired validation gain of ``protocol`` over the static loss on ``draw``."""
    return stats.paired_bootstrap(self.val[protocol, draw], self.val["static", draw])

  def protocol_effect(self, draw: str = "A") -> stats.Interval:
    """Fixed minus last cycle, paired by seed, on ``draw``."""
    return stats.paired_bootstrap(self.val["fixed", draw], self.val["last cycle", draw])

  def draw_effect(self, protocol: str) -> stats.Interval:
    """The gain on draw A minus the gain on draw B, paired by seed."""
    gain = lambda draw: self.val[protocol, draw] - self.val["static", draw]
    return stats.paired_bootstrap(gain("A"), gain("B"))


def _arms(cell, seeds, runs) -> Arms:
  """``runs``: per seed, one run per arm in :data:`ARMS` order."""
  by_arm = {arm: runs[i::len(ARMS)] for i, arm in enumerate(ARMS)}
  val = {(arm, draw): np.array([validation_accuracy(r, draw) for r in by_arm[arm]])
         for arm in ARMS for draw in DRAWS}
  final = lambda arm, key: np.array([r.final[key] for r in by_arm[arm]], dtype=float)
  return Arms(tuple(cell), tuple(seeds), val, {a: final(a, "train_accuracy") for a in ARMS},
              {a: final(a, "diverged").astype(bool) for a in ARMS})


def _configs(cell, seeds):
  return [arm_config(arm, *cell, s) for s in seeds for arm in ARMS]


def screen(directory, recompute: bool = False, progress: bool = True,
           devices: int | None = None, compute: bool = True) -> dict[tuple, Arms]:
  """Stage 3: (A, T) -> :class:`Arms` over :data:`SCREEN_SEEDS`, for A in :data:`AMPLITUDES`."""
  cells = [(a, t) for a in AMPLITUDES for t in PERIODS]
  configs = [c for cell in cells for c in _configs(cell, SCREEN_SEEDS)]
  runs = runs_for(directory, configs, recompute, progress, devices, compute)
  size = len(ARMS) * len(SCREEN_SEEDS)
  return {cell: _arms(cell, SCREEN_SEEDS, runs[i * size:(i + 1) * size])
          for i, cell in enumerate(cells)}


@dataclasses.dataclass
class Confirmation:
  """Stage 4.

  Attributes:
    arms: the cell's :class:`Arms` on the seeds so far.
    needed: seeds the stopping rule asks for so far.
    complete: True once the rule is met (fixed protocol's half-width on draw A at most
      :data:`TARGET_HALF_WIDTH`, or :data:`MAX_SEEDS` seeds).
  """
  arms: Arms
  needed: int
  complete: bool


def stopping_rule(gain: stats.Interval, seeds: int) -> bool:
  """True when the confirmation stops: the interval is narrow enough, or the seeds run out.

  Examples:
    >>> stopping_rule(stats.Interval(0.001, -0.001, 0.0034, 16), 16)
    True
    >>> stopping_rule(stats.Interval(0.001, -0.002, 0.004, 16), 16)
    False
    >>> stopping_rule(stats.Interval(0.001, -0.002, 0.004, 48), 48)
    True
  """
  return gain.half_width <= TARGET_HALF_WIDTH or seeds >= MAX_SEEDS


def confirm(directory, recompute: bool = False, progress: bool = True,
            devices: int | None = None, compute: bool = True) -> Confirmation:
  """Stage 4: :data:`CELL` under both protocols on the confirmation's seeds.

  Blocks of seeds are computed (or loaded) in order; the rule is checked at the end
  of each block. With ``compute=False`` nothing is computed: the result covers the
  longest stored prefix of whole seeds (at least the first block, else a ValueError
  naming the command that computes it), and ``complete`` is False while the rule
  has not been met.
  """
  count = FIRST_SEEDS
  while True:
    seeds = CONFIRM_SEEDS[:count]
    configs = _configs(CELL, seeds)
    if compute:
      runs = load_runs(directory, configs, recompute, progress, devices=devices)
    else:
      runs = stored_runs(directory, configs)
      if None in runs:
        stored = runs.index(None) // len(ARMS)
        if stored < FIRST_SEEDS:
          runs_for(directory, configs[:FIRST_SEEDS * len(ARMS)], compute=False)
        seeds, runs = seeds[:stored], runs[:stored * len(ARMS)]
    arms = _arms(CELL, seeds, runs)
    done = len(seeds) == count and stopping_rule(arms.gain("fixed"), count)
    if done or len(seeds) < count:
      return Confirmation(arms, count, done)
    count = min(count + STEP_SEEDS, MAX_SEEDS)


@dataclasses.dataclass
class ProtocolStudy:
  """The study: the screen's cells and the confirmation."""
  screen: dict
  confirmation: Confirmation


def protocols(directory, recompute: bool = False, progress: bool = True,
              devices: int | None = None, compute: bool = True) -> ProtocolStudy:
  """The whole study (see the module docstring): the confirmation first, then the screen."""
  confirmation = confirm(directory, recompute, progress, devices, compute)
  return ProtocolStudy(screen(directory, recompute, progress, devices, compute), confirmation)


def summary(arms: Arms) -> list[dict]:
  """One row per protocol and draw: the gain, its interval and the seeds."""
  return [{"protocol": p, "draw": d, "gain": arms.gain(p, d)} for p in PROTOCOLS for d in DRAWS]


def largest_effect(arms: Arms) -> float:
  """The largest |bound| of the four gains' intervals: no effect beyond this is consistent
  with every protocol and draw."""
  return max(max(abs(row["gain"].low), abs(row["gain"].high)) for row in summary(arms))


def stored(directory, study: ProtocolStudy) -> list:
  """The runs this study added to the store: every fixed-protocol run, and the static and
  last-cycle runs of the seeds beyond the generalisation study's confirmation."""
  earlier = set(gen.CONFIRM_SEEDS[:gen.CONFIRM_FIRST])
  seeds = study.confirmation.arms.seeds
  configs = [arm_config("fixed", a, t, s) for (a, t) in study.screen for s in SCREEN_SEEDS]
  configs += [arm_config("fixed", *CELL, s) for s in seeds]
  configs += [arm_config(arm, *CELL, s) for s in seeds if s not in earlier
              for arm in ("static", "last cycle")]
  return stored_runs(directory, list(dict.fromkeys(configs)))


def width1000_range(directory):
  """The verdict's range: every protocol's and draw's 95% bound within +-0.005."""
  from dynloss_book.check import Claim
  value = largest_effect(confirm(directory, progress=False, compute=False).arms)
  return Claim("width 1000, confirmed cell: largest |95% bound| over protocols and draws "
               "<= 0.005", value, value <= 0.005)
