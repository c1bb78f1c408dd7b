"""Stored experiments of the chapters "Bifurcation cascades" and "The instability threshold".

:func:`run_measured` trains one spiral configuration with the landscape
measurements of :mod:`dynloss_lib.analysis` taken inside the compiled scan;
the registered experiments store what the chapters plot (see ``store.cached``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Sequence

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from dynloss_lib import (analysis, checks, data as data_lib, losses, models, provenance,
                         schedules, training)
from dynloss_lib.experiments import DTYPES, SpiralConfig, schedule_hyper
from dynloss_book import onsets as onset_analysis, plotting, store

FIG4 = SpiralConfig(width=100, amplitude=70.0, period=5000, steps=70_000, learning_rate=1.0,
                    last_cycle_static=True)
"""The Fig. 4 run: width 100, A = 70, T = 5000, 70,000 steps, last cycle static."""

ZOOM = (8_000, 10_500)
"""The zoomed window of Fig. 4, stored at full resolution."""


@dataclasses.dataclass(frozen=True)
class Measurements:
  """What :func:`run_measured` measures inside the loop.

  Attributes:
    hessian_every: steps between Hessian measurements (>= 1).
    hessian_order: Lanczos order (>= 2).
    ntk_points: the NTK is taken on the first ``ntk_points`` training points
      (>= 1; the first 50 are all of class 0, as in the reference); 0 turns it off.
    ntk_every: steps between NTK measurements (>= 1).
    class_losses: record the per-class losses every step (for the onsets).
  """
  hessian_every: int = 25
  hessian_order: int = 10
  ntk_points: int = 50
  ntk_every: int = 1
  class_losses: bool = True

  def __post_init__(self):
    for name in ("hessian_every", "ntk_every", "hessian_order"):
      checks.integer(name, getattr(self, name), minimum=2 if name == "hessian_order" else 1)
    checks.integer("ntk_points", self.ntk_points, minimum=0)


MEASURE = ("loop", "after")
"""Where :func:`run_measured` takes the Hessian and NTK measurements: ``"loop"`` inside the
compiled training scan, ``"after"`` from the parameters the scan records, vmapped over steps in
a few large computations (a GPU pays per kernel launch: many small in-loop computations cost it
far more than a few large ones; on a CPU the loop is as fast)."""


def default_measure() -> str:
  """``"loop"`` on a CPU, ``"after"`` elsewhere."""
  return "loop" if jax.default_backend() == "cpu" else "after"


def run_measured(config: SpiralConfig, measurements: Measurements = Measurements(),
                 progress: bool | str = True, measure: str | None = None, chunk: int = 1000):
  """Train one spiral configuration with Hessian, NTK and class-loss measurements.

  The training trajectory does not depend on ``measure`` (the measurements never touch the
  update; tested bitwise); the two ways of measuring agree to rounding (1e-12 relative,
  tested).

  Args:
    config: the run (``record_every`` must be 1: the probes count steps).
    measurements: what to measure (:class:`Measurements`).
    progress: show a progress bar.
    measure: :data:`MEASURE` (None: :func:`default_measure`).
    chunk: with ``"after"``, the recorded steps measured in one vmapped computation.

  Returns:
    ``(result, seconds)``: a :class:`training.BatchResult` with a run axis of
    size 1 and history entries ``hessian_max``, ``ntk_max`` and
    ``class_losses`` as asked, and the wall time of the training and the measurements
    (compilation included).

  Examples:
    >>> result, _ = run_measured(SpiralConfig(width=8, steps=6),
    ...                          Measurements(hessian_every=3, ntk_points=4), progress=False)
    >>> np.isfinite(result.history["hessian_max"][0]).tolist()
    [True, False, False, True, False, False]
    >>> result.history["ntk_max"].shape, result.history["class_losses"].shape
    ((1, 6), (1, 6, 3))
  """
  if config.record_every != 1:
    raise ValueError(f"run_measured records every step, got record_every={config.record_every}")
  measure = measure or default_measure()
  checks.one_of("measure", measure, MEASURE)
  dtype = DTYPES[config.dtype]
  x, y = data_lib.spiral(config.points_per_class, config.num_classes, config.revolutions,
                         config.noise, config.data_seed)
  x = jnp.asarray(x, dtype)
  module = config.model()
  params = module.init(jax.random.PRNGKey(config.seed), jnp.zeros((1, 2), dtype))
  apply_fn = module.apply
  loss = losses.dynamical_loss(config.loss)
  landscape = {"hessian_max": analysis.hessian_probe(
      apply_fn, x, y, order=measurements.hessian_order, every=measurements.hessian_every,
      loss=loss)}
  if measurements.ntk_points:
    # the MLP's kernel in closed form (equal to the generic one, without a per-sample Jacobian)
    landscape["ntk_max"] = analysis.ntk_probe(apply_fn, x[:measurements.ntk_points],
                                              every=measurements.ntk_every,
                                              kernel_fn=functools.partial(models.mlp_ntk, module))
  _, unravel = jax.flatten_util.ravel_pytree(params)
  if measure == "loop":
    probes = dict(landscape)
  else:  # the scan records the parameters where a measurement is due; measured below
    every = functools.reduce(np.gcd, [probe.every for probe in landscape.values()])
    probes = {"params": training.Probe(lambda p, gamma: jax.flatten_util.ravel_pytree(p)[0],
                                       every=int(every))}
  if measurements.class_losses:
    probes["class_losses"] = analysis.class_loss_probe(y, config.num_classes, loss)
  hyper = schedule_hyper([config], dtype)
  start = time.perf_counter()
  result = training.run_batch(
      apply_fn, jax.tree_util.tree_map(lambda p: p[None], params), x, y,
      weights_fn=schedules.ClassWeights(config.num_classes, config.shape), hyper=hyper,
      learning_rates=jnp.array([config.learning_rate], dtype), steps=config.steps,
      probes=probes, progress=progress, num_classes=config.num_classes, loss=loss)
  if measure == "after":
    recorded, gamma = result.history.pop("params")[0], result.history["gamma"][0]
    for name, probe in landscape.items():
      steps = np.arange(0, config.steps, probe.every)
      fn = jax.jit(jax.vmap(lambda f, g, fn=probe.fn: fn(unravel(f), g)))
      values = np.concatenate([np.asarray(fn(jnp.asarray(recorded[steps[i:i + chunk]]),
                                             jnp.asarray(gamma[steps[i:i + chunk]])))
                               for i in range(0, steps.size, chunk)])
      result.history[name] = np.full((1, config.steps), np.nan, values.dtype)
      result.history[name][0, steps] = values
  return result, time.perf_counter() - start


def measured_final(result, seconds: float) -> dict:
  """The final numbers of a :func:`run_measured` run: train accuracy, static loss,
  divergence step (-1: none) and the training wall time."""
  return {"train_accuracy": float(result.final["train_accuracy"][0]),
          "static_loss": float(result.final["static_loss"][0]),
          "diverged_step": int(result.diverged_step[0]), "wall_seconds": seconds}


def _bins(values, size, reducer):
  """Reduce ``values`` (first axis: steps) over consecutive bins of ``size`` steps."""
  values = np.asarray(values, dtype=float)
  usable = values.shape[0] // size * size
  return reducer(values[:usable].reshape(usable // size, size, *values.shape[1:]), axis=1)


def ntk_drops(steps, low, high, onsets, *, before: int = 50, after: int = 1500,
              control_shift: int = 1500):
  r"""Relative drop of the NTK's :math:`\lambda_{\max}` after each onset, and a control.

  .. math::
    \text{drop}(t) = 1 - \frac{\min_{[t, t + a)} \lambda}{\max_{[t - b, t)} \lambda}

  and the same quantity at :math:`t - s` (``control_shift``), inside the stable
  stretch that precedes the onset. Works on binned histories: ``low`` and
  ``high`` are the minimum and maximum over the bin starting at each of
  ``steps`` (pass the same array twice for a full-resolution history).

  Args:
    steps: ``(B,)`` first step of each bin.
    low, high: ``(B,)`` NTK :math:`\lambda_{\max}`, bin minimum and maximum.
    onsets: onset steps (entries < 0 are skipped).
    before, after, control_shift: :math:`b, a, s` in steps.

  Returns:
    ``(drops, control_drops)``: arrays, one entry per onset (NaN where a window
    leaves the run).

  Examples:
    >>> ntk = np.full(40, 10.0); ntk[20:25] = 6.0
    >>> ntk_drops(np.arange(40), ntk, ntk, [20, -1], before=5, after=10, control_shift=10)
    (array([0.4]), array([0.]))
  """
  steps = np.asarray(steps)
  low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)

  def drop(t):
    if t - before < steps[0] or t + after > steps[-1] + 1:
      return np.nan
    ahead = (steps >= t) & (steps < t + after)
    behind = (steps >= t - before) & (steps < t)
    return 1.0 - low[ahead].min() / high[behind].max()

  valid = [int(t) for t in onsets if t >= 0]
  return (np.array([drop(t) for t in valid]),
          np.array([drop(t - control_shift) for t in valid]))


def _onset_hessian(steps, hessian_max, onsets):
  """Per cycle: the last Hessian measurement at or before the cycle's onset (NaN: no onset)."""
  at = onset_analysis.value_at_or_before(steps, hessian_max, np.maximum(onsets, 0))
  return np.where(onsets >= 0, at, np.nan)


def _measured_config(config: SpiralConfig, measurements: Measurements) -> dict:
  return {"run": config.to_dict(), "measurements": dataclasses.asdict(measurements)}


def fig4_result(directory, seed: int = 0, recompute: bool = False, progress: bool = True,
                config: SpiralConfig = FIG4, measurements: Measurements = Measurements(),
                bin_steps: int = 10):
  """The Fig. 4 run of one seed, stored: the whole run in bins, the zoom in full.

  Stored arrays (float32 where plotted only): ``bin_step`` (first step of each
  bin of ``bin_steps``), ``F_min``/``F_max``, ``dF_min``/``dF_max``
  (:math:`F(t) - F(t-1)`), ``acc_mean``, ``ntk_min``/``ntk_max``,
  ``gamma`` (first step of each bin), ``unstable_max`` (largest
  :func:`~dynloss_book.onsets.fixed_gamma_loss_change` in the bin); ``hessian_step`` and
  ``hessian_max`` (every measurement); ``zoom_*`` at full resolution on
  :data:`ZOOM`; ``onsets`` (per cycle, -1 if none) and ``onset_hessian`` (per
  cycle: the last Hessian measurement at or before its onset, NaN for -1). :func:`ntk_drops` works on the
  binned ``ntk_min``/``ntk_max``.

  Args:
    directory: the results store.
    seed: initialisation seed.
    recompute: recompute even if stored.
    progress: progress bar while computing.
    config: the run (default :data:`FIG4`; the seed is replaced).
    measurements: what is measured in the loop.
    bin_steps: bin size of the whole-run arrays.

  Returns:
    A :class:`~dynloss_book.store.Record`: the arrays above, and in ``final`` the
    final accuracy, static loss, divergence step and training wall time.
  """
  config = config.replace(seed=seed)
  # "onset_layout": the file of an earlier layout (one onset_hessian per onset) is never reused.
  key = {**_measured_config(config, measurements), "bin_steps": bin_steps, "zoom": list(ZOOM),
         "onset_layout": "per_cycle"}

  def compute():
    result, seconds = run_measured(config, measurements, progress)
    h = {k: v[0] for k, v in result.history.items()}
    steps = result.record_steps
    loss = h["loss"]
    d_loss = np.concatenate([[np.nan], np.diff(loss)])
    change = onset_analysis.fixed_gamma_loss_change(h["class_losses"], h["gamma"])
    change = np.concatenate([change, [np.nan]])
    onsets = onset_analysis.instability_onsets(change, config.period + 1,
                                         last_step=min(config.static_from, config.steps))
    measured = np.isfinite(h["hessian_max"])
    f32 = lambda a: np.asarray(a, np.float32)
    lo, hi = ZOOM
    arrays = {
        "bin_step": steps[::bin_steps][:len(steps) // bin_steps],
        "F_min": f32(_bins(loss, bin_steps, np.min)), "F_max": f32(_bins(loss, bin_steps, np.max)),
        "dF_min": f32(_bins(np.nan_to_num(d_loss), bin_steps, np.min)),
        "dF_max": f32(_bins(np.nan_to_num(d_loss), bin_steps, np.max)),
        "acc_mean": f32(_bins(h["train_accuracy"], bin_steps, np.mean)),
        "ntk_min": f32(_bins(h["ntk_max"], bin_steps, np.min)),
        "ntk_max": f32(_bins(h["ntk_max"], bin_steps, np.max)),
        "gamma": f32(h["gamma"][::bin_steps][:len(steps) // bin_steps]),
        "unstable_max": f32(_bins(np.nan_to_num(change, nan=-np.inf), bin_steps, np.max)),
        "hessian_step": steps[measured], "hessian_max": h["hessian_max"][measured],
        "zoom_step": steps[lo:hi], "zoom_F": loss[lo:hi], "zoom_dF": d_loss[lo:hi],
        "zoom_acc": h["train_accuracy"][lo:hi], "zoom_ntk": h["ntk_max"][lo:hi],
        "zoom_gamma": h["gamma"][lo:hi], "zoom_unstable": change[lo:hi],
        "onsets": onsets,
        "onset_hessian": _onset_hessian(steps, h["hessian_max"], onsets),
    }
    return store.Record("fig4", key, measured_final(result, seconds), arrays=arrays,
                        environment=provenance.environment())

  return store.cached(directory, "fig4", key, compute, recompute)


FIG4_SEEDS = (0, 1, 2)


def bifurcation_cascades(directory, recompute: bool = False, progress: bool = True):
  """The Fig. 4 run (:data:`FIG4`) with in-loop Hessian and NTK, for :data:`FIG4_SEEDS`.

  Returns:
    ``{seed: record}`` (see :func:`fig4_result`).
  """
  return {seed: fig4_result(directory, seed, recompute, progress) for seed in FIG4_SEEDS}


THRESHOLD_LEARNING_RATES = (0.25, 0.5, 1.0, 2.0)
THRESHOLD_WIDTHS = (100, 1000)


def threshold_setup(width: int, learning_rate: float, amplitude: float = 70.0):
  """Configuration and measurements of one run of the threshold chapter.

  Three cycles (15,003 steps) at width 100 with the Hessian every 10 steps;
  two cycles at width 1000 with the Hessian every 25 steps (each measurement
  costs ten times more there). No NTK.

  Examples:
    >>> config, measurements = threshold_setup(1000, 0.5)
    >>> config.steps, measurements.hessian_every
    (10002, 25)
  """
  cycles, every = (3, 10) if width <= 100 else (2, 25)
  config = SpiralConfig(width=width, amplitude=amplitude, period=5000, learning_rate=learning_rate,
                        steps=cycles * 5001)
  return config, Measurements(hessian_every=every, ntk_points=0)


def threshold_result(directory, width: int, learning_rate: float, amplitude: float = 70.0,
                     recompute: bool = False, progress: bool = True, bin_steps: int = 10):
  """One run of the threshold chapter, stored.

  Stored arrays: ``hessian_step``/``hessian_max`` (every measurement),
  ``bin_step``, ``acc_mean``, ``F_min``, ``F_max``, ``unstable_max`` (bins of
  ``bin_steps``), ``onsets`` (per cycle, -1 if none) and ``onset_hessian``
  (the last Hessian measurement at or before each onset, NaN for -1).

  Returns:
    A :class:`~dynloss_book.store.Record` (the arrays above; ``final``: final
    accuracy, divergence step, wall time).
  """
  config, measurements = threshold_setup(width, learning_rate, amplitude)
  key = {**_measured_config(config, measurements), "bin_steps": bin_steps}

  def compute():
    result, seconds = run_measured(config, measurements, progress)
    h = {k: v[0] for k, v in result.history.items()}
    steps = result.record_steps
    change = np.concatenate([onset_analysis.fixed_gamma_loss_change(h["class_losses"], h["gamma"]),
                             [np.nan]])
    onsets = onset_analysis.instability_onsets(change, config.period + 1)
    measured = np.isfinite(h["hessian_max"])
    f32 = lambda a: np.asarray(a, np.float32)
    arrays = {
        "hessian_step": steps[measured], "hessian_max": h["hessian_max"][measured],
        "bin_step": steps[::bin_steps][:len(steps) // bin_steps],
        "acc_mean": f32(_bins(h["train_accuracy"], bin_steps, np.mean)),
        "F_min": f32(_bins(h["loss"], bin_steps, np.min)),
        "F_max": f32(_bins(h["loss"], bin_steps, np.max)),
        "unstable_max": f32(_bins(np.nan_to_num(change, nan=-np.inf), bin_steps, np.max)),
        "onsets": onsets, "onset_hessian": _onset_hessian(steps, h["hessian_max"], onsets)}
    final = {"train_accuracy": float(result.final["train_accuracy"][0]),
             "diverged_step": int(result.diverged_step[0]), "wall_seconds": seconds}
    return store.Record("threshold", key, final, arrays=arrays,
                        environment=provenance.environment())

  return store.cached(directory, "threshold", key, compute, recompute)


def instability_threshold(directory, recompute: bool = False, progress: bool = True):
  """Threshold runs for every width and learning rate, and the static loss at width 100.

  Returns:
    ``{(width, learning_rate, amplitude): record}``.
  """
  out = {}
  for width in THRESHOLD_WIDTHS:
    for lr in THRESHOLD_LEARNING_RATES:
      out[(width, lr, 70.0)] = threshold_result(directory, width, lr, 70.0, recompute, progress)
  for lr in THRESHOLD_LEARNING_RATES:
    out[(100, lr, 1.0)] = threshold_result(directory, 100, lr, 1.0, recompute, progress)
  return out


def fig4_figure(arrays, learning_rate: float, title: str, zoom: bool = False):
  """The paper's Fig. 4 panels for one stored run of :func:`fig4_result` (beside it: the figure
  reads the arrays that function writes).

  Six panels over the steps: the weights :math:`\\Gamma_i`, the loss :math:`F(t)`, its change
  :math:`F(t) - F(t-1)`, the train accuracy, the Hessian's :math:`\\lambda_{\\max}` (with
  :math:`2/\\eta`) and the NTK's :math:`\\lambda_{\\max}`; grey lines at the onsets.

  Args:
    arrays: the record's arrays.
    learning_rate: :math:`\\eta` of the run.
    title: the figure's title.
    zoom: the zoom window at full resolution (``zoom_*``) instead of the whole run in bins
      (minimum to maximum of each bin).

  Returns:
    The figure.
  """
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(6, 1, figsize=(6.5 if zoom else 7, 11), sharex=True)
  if zoom:
    s = arrays["zoom_step"]
    inside = (arrays["hessian_step"] >= s[0]) & (arrays["hessian_step"] <= s[-1])
    gamma, points = arrays["zoom_gamma"], dict(ms=1, ls="none", marker=".")
    axes[1].plot(s, arrays["zoom_F"], **points)
    axes[2].plot(s, arrays["zoom_dF"], **points)
    axes[3].plot(s, arrays["zoom_acc"], **points)
    axes[4].plot(arrays["hessian_step"][inside], arrays["hessian_max"][inside], ".", ms=2)
    axes[5].plot(s, arrays["zoom_ntk"], **points)
    onsets = [t for t in arrays["onsets"] if s[0] <= t <= s[-1]]
  else:
    s, gamma = arrays["bin_step"], arrays["gamma"]
    axes[1].fill_between(s, arrays["F_min"], arrays["F_max"], color="C0", lw=0.6)
    axes[1].set_yscale("log")
    axes[2].fill_between(s, arrays["dF_min"], arrays["dF_max"], color="C0", lw=0.6)
    axes[2].set_ylim(-0.25, 0.25)
    axes[3].plot(s, arrays["acc_mean"], color="C0", lw=0.8)
    axes[4].plot(arrays["hessian_step"], arrays["hessian_max"], ".", ms=1, color="C0")
    axes[5].fill_between(s, arrays["ntk_min"], arrays["ntk_max"], color="C0", lw=0.6)
    onsets = arrays["onsets"][arrays["onsets"] >= 0]
  for c in range(3):
    axes[0].plot(s, gamma[:, c], color=plotting.FIG4_COLORS[c], lw=1)
  axes[4].axhline(2 / learning_rate, color="k", ls="--", lw=1)
  axes[4].set_yscale("log")
  labels = (r"$\Gamma_i$", r"$F(t)$", r"$F(t) - F(t-1)$", "train accuracy",
            r"Hessian $\lambda_{\max}$", r"NTK $\lambda_{\max}$")
  for ax, label in zip(axes, labels):
    ax.set_ylabel(label)
  axes[5].set_xlabel("step $t$")
  for onset in onsets:
    for ax in axes[1:]:
      ax.axvline(onset, color="0.6", lw=0.8 if zoom else 0.5, zorder=0)
  fig.suptitle(title, fontsize=10, y=0.995)
  plotting.fig4_key(fig)
  fig.align_ylabels(axes)
  fig.tight_layout(rect=(0, 0, 1, 0.955))
  return fig
