r"""Class-weight schedules :math:`\Gamma(t)` for dynamical losses.

Each factory returns an optax-style ``schedule(count)``: a function of the
training step that gives the ``(num_classes,)`` vector of class weights.

The periodic schedules follow the authors' reference code exactly:

* a phase counter :math:`t' = 0, 1, \dots, T` runs through each cycle, so a cycle
  lasts :math:`T + 1` steps;
* in cycle :math:`k` the emphasised class is :math:`k \bmod C`;
* the emphasised class gets a raw weight :math:`w(t') \ge 1` (shape-dependent,
  :math:`w = 1` at :math:`t' = 0` and :math:`w = A` at the peak), the others
  get 1, and the weights are normalised to sum to :math:`C`:

  .. math::
    \Gamma_c = \frac{C\, w}{w + C - 1}, \qquad
    \Gamma_{\text{other}} = \frac{C}{w + C - 1}.

So the amplitude :math:`A` is the ratio emphasised/other at the peak, not the
peak of :math:`\Gamma`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
import numpy as np

from dynloss_lib import checks

Schedule = Callable[[int], jnp.ndarray]

NEVER = int(np.iinfo(np.int32).max)
"""A static start that no step counter reaches: the loss keeps oscillating."""


def hyper(amplitude, period, phase_offset=0, static_from=None) -> dict:
  """The per-run schedule values :class:`ClassWeights` reads: one layout for both engines.

  Args:
    amplitude: :math:`A`.
    period: :math:`T`.
    phase_offset: steps added to the step count (``T // 2`` starts mid-cycle).
    static_from: first step of the static loss; None (never) is stored as :data:`NEVER`.

  Returns:
    ``{"amplitude", "period", "phase_offset", "static_from"}``, the values as given
    (numbers or arrays with a leading run axis).

  Examples:
    >>> hyper(70.0, 5000)["static_from"] == NEVER
    True
  """
  return {"amplitude": amplitude, "period": period, "phase_offset": phase_offset,
          "static_from": NEVER if static_from is None else static_from}


def _triangle_raw(phase, amplitude, period):
  # 1 -> A at T/2 -> 1; the reference's two linear branches.
  rising = 1.0 + 2.0 * (amplitude - 1.0) * phase / period
  falling = 2.0 * amplitude - 1.0 - 2.0 * (amplitude - 1.0) * phase / period
  return jnp.where(phase < period / 2.0, rising, falling)


def _sine_raw(phase, amplitude, period):
  return 1.0 + (amplitude - 1.0) * 0.5 * (1.0 - jnp.cos(2.0 * jnp.pi * phase / period))


def _square_raw(phase, amplitude, period):
  # A in the middle half of the cycle, 1 in the outer quarters.
  middle = (phase >= period / 4.0) & (phase < 3.0 * period / 4.0)
  return jnp.where(middle, amplitude, 1.0)


SHAPES: dict[str, Callable] = {"triangle": _triangle_raw, "sine": _sine_raw,
                               "square": _square_raw}
"""Name -> raw weight ``w(phase, amplitude, period)`` of the emphasised class (1 at phase 0,
``amplitude`` at the peak): the one table of Gamma's shapes, which both engines, the configs
and the CLI read. A new shape is one function and one entry."""


def phase_and_class(count, period, num_classes, phase_offset=0):
  r"""Phase counter :math:`t'` and emphasised class at step ``count``.

  .. math::
    s = \text{count} + \text{offset}, \quad t' = s \bmod (T + 1), \quad
    c = \lfloor s / (T + 1) \rfloor \bmod C.

  Args:
    count: training step (0-based), an int or integer array.
    period: the period :math:`T`; a cycle lasts ``period + 1`` steps.
    num_classes: number of classes :math:`C`.
    phase_offset: steps added to ``count`` (``period // 2`` starts mid-cycle).

  Returns:
    ``(phase, emphasised_class)`` as integer arrays.

  Examples:
    >>> phase_and_class(5001, period=5000, num_classes=3)
    (Array(0, dtype=int64, weak_type=True), Array(1, dtype=int64, weak_type=True))
  """
  shifted = jnp.asarray(count) + phase_offset
  return shifted % (period + 1), (shifted // (period + 1)) % num_classes


def periodic_weights(count, amplitude, period, num_classes, shape="triangle",
                     phase_offset=0, static_from=None):
  """Unvalidated, traceable core of the periodic schedules.

  Every numeric argument may be a traced array, so that one compiled training
  loop can be vmapped over amplitudes and periods. Use the factories
  (:func:`triangle`, :func:`sine`, :func:`square`) for checked arguments.

  Args:
    count: training step.
    amplitude: ratio emphasised/other at the peak, >= 1.
    period: the period T (int).
    num_classes: number of classes C (static int).
    shape: one of ``"triangle"``, ``"sine"``, ``"square"`` (static).
    phase_offset: steps added to ``count`` before computing the phase.
    static_from: step from which all weights are 1 (``None``: never).

  Returns:
    Array of shape ``(num_classes,)`` summing to ``num_classes``.

  Examples:
    >>> periodic_weights(2500, 70.0, 5000, 3).round(4)
    Array([2.9167, 0.0417, 0.0417], dtype=float64)
  """
  phase, emphasised = phase_and_class(count, period, num_classes, phase_offset)
  raw = SHAPES[shape](phase, amplitude, period)
  if static_from is not None:
    raw = jnp.where(jnp.asarray(count) >= static_from, 1.0, raw)
  raw = jnp.asarray(raw, dtype=jnp.result_type(float))
  others = num_classes / (raw + num_classes - 1.0)
  one_hot = jnp.arange(num_classes) == emphasised
  return jnp.where(one_hot, raw * others, others)


@dataclasses.dataclass(frozen=True)
class ClassWeights:
  r"""The one source of :math:`\Gamma` for the training engines: ``weights(step, hyper)``.

  The shape and the number of classes are fields (hashable: equal values share a
  compilation); amplitude, period, phase offset and static start are per-run
  values in ``hyper`` (traced, so runs that differ only in them share one), as
  :func:`periodic_weights` takes them.

  Attributes:
    num_classes: :math:`C`.
    shape: ``"triangle"``, ``"sine"`` or ``"square"``.
    dtype: cast the weights to this dtype name (None: keep the default float).

  Examples:
    >>> weights = ClassWeights(num_classes=3)
    >>> weights(2500, {"amplitude": 70.0, "period": 5000}).round(4).tolist()
    [2.9167, 0.0417, 0.0417]
    >>> weights(2500, {"amplitude": 70.0, "period": 5000, "static_from": 2000}).tolist()
    [1.0, 1.0, 1.0]
    >>> ClassWeights(3) == ClassWeights(3, "triangle")   # one compilation for both
    True
  """
  num_classes: int
  shape: str = "triangle"
  dtype: str | None = None

  def __post_init__(self):
    checks.integer("num_classes", self.num_classes, minimum=2)
    checks.one_of("shape", self.shape, SHAPES)

  def __call__(self, step, hyper):
    weights = periodic_weights(step, hyper["amplitude"], hyper["period"], self.num_classes,
                               self.shape, hyper.get("phase_offset", 0),
                               hyper.get("static_from"))
    return weights if self.dtype is None else weights.astype(self.dtype)


def _check_common(amplitude, period, num_classes, static_from):
  checks.number("amplitude", amplitude, minimum=1)
  checks.integer("period", period)
  checks.integer("num_classes", num_classes, minimum=2)
  if static_from is not None:
    checks.integer("static_from", static_from, minimum=0)


def _periodic(shape, amplitude, period, num_classes, start_mid, static_from) -> Schedule:
  _check_common(amplitude, period, num_classes, static_from)
  offset = period // 2 if start_mid else 0

  def schedule(count):
    return periodic_weights(count, float(amplitude), int(period), int(num_classes),
                            shape, offset, static_from)

  return schedule


def triangle(amplitude: float, period: int, num_classes: int, *, start_mid: bool = False,
             static_from: int | None = None) -> Schedule:
  r"""Triangle schedule, exactly the authors' reference :math:`\Gamma(t)`.

  Raw weight of the emphasised class at phase :math:`t' \in \{0, \dots, T\}`:

  .. math::
    w(t') = \begin{cases}
      1 + 2(A - 1)\, t'/T, & t' < T/2 \\
      2A - 1 - 2(A - 1)\, t'/T, & t' \ge T/2
    \end{cases}

  then :math:`\Gamma_c = C w / (w + C - 1)` and
  :math:`\Gamma_{\text{other}} = C / (w + C - 1)`.

  Args:
    amplitude: :math:`A \ge 1`, the emphasised/other ratio at the peak; 1 is
      the static loss.
    period: :math:`T`, a positive integer; each cycle lasts ``period + 1`` steps.
    num_classes: :math:`C \ge 2`.
    start_mid: start the first cycle at :math:`t' = \lfloor T/2 \rfloor`.
    static_from: from this step on all weights are 1 (the Fig. 4 run's static
      last cycle); ``None`` keeps oscillating.

  Returns:
    ``schedule(count)`` giving the ``(num_classes,)`` weights at step ``count``.

  Examples:
    >>> schedule = triangle(amplitude=70.0, period=5000, num_classes=3)
    >>> schedule(0)
    Array([1., 1., 1.], dtype=float64)
    >>> schedule(2500).round(4)  # peak: class 0 is 70 times the others
    Array([2.9167, 0.0417, 0.0417], dtype=float64)
    >>> schedule(5001 + 2500).round(4)  # second cycle emphasises class 1
    Array([0.0417, 2.9167, 0.0417], dtype=float64)
  """
  return _periodic("triangle", amplitude, period, num_classes, start_mid, static_from)


def sine(amplitude: float, period: int, num_classes: int, *, start_mid: bool = False,
         static_from: int | None = None) -> Schedule:
  r"""Raised-cosine schedule with the triangle's meaning of A and T.

  .. math::
    w(t') = 1 + (A - 1)\, \tfrac{1}{2}\left(1 - \cos \tfrac{2\pi t'}{T}\right)

  normalised as in :func:`triangle`.

  Args:
    amplitude: :math:`A \ge 1`.
    period: :math:`T`, a positive integer (cycles of ``period + 1`` steps).
    num_classes: :math:`C \ge 2`.
    start_mid: start the first cycle at :math:`t' = \lfloor T/2 \rfloor`.
    static_from: from this step on all weights are 1.

  Returns:
    ``schedule(count)`` giving the ``(num_classes,)`` weights.

  Examples:
    >>> sine(amplitude=4.0, period=100, num_classes=2)(50)
    Array([1.6, 0.4], dtype=float64)
  """
  return _periodic("sine", amplitude, period, num_classes, start_mid, static_from)


def square(amplitude: float, period: int, num_classes: int, *, start_mid: bool = False,
           static_from: int | None = None) -> Schedule:
  r"""Square schedule: the emphasised class at full amplitude for half a cycle.

  .. math::
    w(t') = \begin{cases} A, & T/4 \le t' < 3T/4 \\ 1, & \text{otherwise} \end{cases}

  normalised as in :func:`triangle`.

  Args:
    amplitude: :math:`A \ge 1`.
    period: :math:`T`, a positive integer (cycles of ``period + 1`` steps).
    num_classes: :math:`C \ge 2`.
    start_mid: start the first cycle at :math:`t' = \lfloor T/2 \rfloor`.
    static_from: from this step on all weights are 1.

  Returns:
    ``schedule(count)`` giving the ``(num_classes,)`` weights.

  Examples:
    >>> schedule = square(amplitude=4.0, period=100, num_classes=2)
    >>> schedule(24), schedule(25)
    (Array([1., 1.], dtype=float64), Array([1.6, 0.4], dtype=float64))
  """
  return _periodic("square", amplitude, period, num_classes, start_mid, static_from)


def constant(num_classes: int) -> Schedule:
  r"""The static loss: :math:`\Gamma_c(t) = 1` for every class.

  Args:
    num_classes: :math:`C \ge 2`.

  Returns:
    ``schedule(count)`` giving ``ones(num_classes)``.

  Examples:
    >>> constant(3)(123)
    Array([1., 1., 1.], dtype=float64)
  """
  _check_common(1.0, 1, num_classes, None)
  return lambda count: jnp.ones(num_classes, dtype=jnp.result_type(float))


def whole_round_periods(steps: int, num_classes: int, minimum: int = 2) -> list[int]:
  r"""The periods T with which ``steps`` oscillating steps are whole rounds of the classes.

  A round emphasises each of the :math:`C` classes once and lasts :math:`C (T + 1)` steps;
  an oscillating part that ends mid-round gives some classes fewer turns than others.

  Args:
    steps: steps of the oscillating part.
    num_classes: :math:`C`.
    minimum: the smallest period listed (T = 1 never emphasises a class: its two
      phases 0 and 1 both have raw weight 1).

  Returns:
    Every :math:`T \ge` ``minimum`` with :math:`C (T + 1)` dividing ``steps``, ascending.

  Examples:
    >>> whole_round_periods(390, 10)   # 10 epochs of 39 minibatch steps
    [2, 12, 38]
    >>> triangle(amplitude=4.0, period=1, num_classes=2)(1)  # T = 1 is the static loss
    Array([1., 1.], dtype=float64)
    >>> whole_round_periods(975, 10)
    []
  """
  checks.integer("steps", steps, minimum=0)
  checks.integer("num_classes", num_classes, minimum=2)
  if steps % num_classes:
    return []
  cycles = steps // num_classes
  return [t for t in range(minimum, cycles) if cycles % (t + 1) == 0]


def last_cycle_start(steps: int, period: int, start_mid: bool = False) -> int:
  """First cycle boundary at or after ``steps - period``.

  The Fig. 4 run trains its last cycle with the static loss, "from the first
  reset after step 65,000" for 70,000 steps and T = 5000.

  Args:
    steps: total number of training steps.
    period: the period T (cycles of ``period + 1`` steps).
    start_mid: whether the first cycle started mid-way.

  Returns:
    The step at which the last (static) cycle begins.

  Examples:
    >>> last_cycle_start(70_000, 5000)
    65013
  """
  offset = period // 2 if start_mid else 0
  target = max(steps - period, 0) + offset
  cycles = -(-target // (period + 1))
  return cycles * (period + 1) - offset
