"""Figures shared by the book's chapters: decision regions, Gamma(t), heat maps.

Every function draws on a matplotlib ``Axes`` it is given and returns what it
drew, so chapters compose them into their own figures.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.colors as mcolors
import numpy as np

from dynloss_lib import checks

CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")

SERIES_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
"""Well-separated colours (Okabe and Ito's colour-blind-safe set) for curves that share axes,
for example one per seed."""


def class_cmap(num_classes: int) -> mcolors.ListedColormap:
  """A discrete colormap with one colour per class.

  Args:
    num_classes: 2 to 5.

  Returns:
    A ``ListedColormap``.

  Examples:
    >>> class_cmap(3).N
    3
  """
  if not 2 <= num_classes <= len(CLASS_COLORS):
    raise ValueError(f"num_classes must be in [2, {len(CLASS_COLORS)}], got {num_classes=}")
  return mcolors.ListedColormap(CLASS_COLORS[:num_classes])


def grid_points(extent: float = 1.2, resolution: int = 200) -> tuple[np.ndarray, tuple]:
  """A square grid of 2-d points covering ``[-extent, extent]^2``.

  Args:
    extent: half-width of the square.
    resolution: points per side.

  Returns:
    ``(points, shape)``: ``(resolution**2, 2)`` points and the grid's shape.

  Examples:
    >>> points, shape = grid_points(1.0, 3)
    >>> points.shape, shape
    ((9, 2), (3, 3))
  """
  checks.number("extent", extent, above=0)
  checks.integer("resolution", resolution, minimum=2)
  axis = np.linspace(-extent, extent, resolution)
  xx, yy = np.meshgrid(axis, axis)
  return np.stack([xx.ravel(), yy.ravel()], axis=1), xx.shape


def decision_regions(ax, predict: Callable[[np.ndarray], np.ndarray], x, y,
                     num_classes: int = 3, extent: float = 1.2, resolution: int = 200,
                     title: str | None = None):
  """Background colour = predicted class, points coloured by their true class.

  Args:
    ax: matplotlib axes.
    predict: ``predict(points) -> (M,)`` integer classes.
    x: ``(N, 2)`` data points.
    y: ``(N,)`` labels.
    num_classes: number of classes.
    extent: half-width of the drawn square.
    resolution: grid points per side.
    title: optional title.

  Returns:
    The ``(resolution, resolution)`` array of predicted classes.

  Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> x = np.array([[-0.5, 0.0], [0.5, 0.0]]); y = np.array([0, 1])
    >>> regions = decision_regions(ax, lambda p: (p[:, 0] > 0).astype(int), x, y,
    ...                            num_classes=2, resolution=4)
    >>> regions.tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]
    >>> plt.close(fig)
  """
  points, shape = grid_points(extent, resolution)
  regions = np.asarray(predict(points)).reshape(shape)
  cmap = class_cmap(num_classes)
  ax.imshow(regions, origin="lower", extent=(-extent, extent, -extent, extent), cmap=cmap,
            vmin=-0.5, vmax=num_classes - 0.5, alpha=0.35, interpolation="nearest")
  ax.scatter(x[:, 0], x[:, 1], c=np.asarray(y), cmap=cmap, vmin=-0.5,
             vmax=num_classes - 0.5, s=9, edgecolors="k", linewidths=0.3)
  ax.set_xlim(-extent, extent)
  ax.set_ylim(-extent, extent)
  ax.set_aspect("equal")
  ax.set_xticks([])
  ax.set_yticks([])
  if title:
    ax.set_title(title, fontsize=10)
  return regions


def class_key(target, num_classes: int = 3, names: Sequence[str] | None = None,
              **legend_kwargs):
  """A legend for :func:`decision_regions`: each class's region colour and point marker.

  Args:
    target: a matplotlib ``Figure`` or ``Axes`` to put the legend on.
    num_classes: number of classes (2 to 5, as :func:`class_cmap`).
    names: one label per class (default ``class 0``, ...).
    **legend_kwargs: passed to ``legend`` (for example ``loc``, ``ncol``).

  Returns:
    The ``Legend``.

  Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> [t.get_text() for t in class_key(ax, 2).get_texts()]
    ['class 0', 'class 1']
    >>> plt.close(fig)
  """
  from matplotlib.lines import Line2D
  from matplotlib.patches import Patch
  cmap = class_cmap(num_classes)
  names = list(names) if names is not None else [f"class {i}" for i in range(num_classes)]
  if len(names) != num_classes:
    raise ValueError(f"names must have one entry per class ({num_classes}), got {names=}")
  handles = []
  for i in range(num_classes):
    colour = cmap(i)
    handles.append((Patch(facecolor=colour, alpha=0.35, edgecolor="none"),
                    Line2D([], [], ls="none", marker="o", markersize=5, markerfacecolor=colour,
                           markeredgecolor="k", markeredgewidth=0.3)))
  from matplotlib.legend_handler import HandlerTuple
  legend_kwargs.setdefault("title", "region: predicted class; dot: true class")
  legend_kwargs.setdefault("fontsize", 8)
  legend_kwargs.setdefault("title_fontsize", 8)
  return target.legend(handles, names, handler_map={tuple: HandlerTuple(ndivide=None)},
                       **legend_kwargs)


def plot_gamma(ax, schedule: Callable, steps: int, num_classes: int,
               labels: Sequence[str] | None = None):
  r"""Plot :math:`\Gamma_i(t)` of a schedule for each class over ``steps`` steps.

  Args:
    ax: matplotlib axes.
    schedule: ``schedule(step) -> (num_classes,)`` (see :mod:`dynloss_lib.schedules`).
    steps: number of steps to draw.
    num_classes: number of classes.
    labels: legend labels (default ``class 0``, ...).

  Returns:
    ``(steps, num_classes)`` array of the plotted weights.

  Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from dynloss_lib import schedules
    >>> fig, ax = plt.subplots()
    >>> gamma = plot_gamma(ax, schedules.triangle(5.0, 10, 3), 33, 3)
    >>> gamma.shape, bool(np.allclose(gamma.sum(axis=1), 3.0))
    ((33, 3), True)
    >>> plt.close(fig)
  """
  import jax
  gamma = np.asarray(jax.vmap(schedule)(np.arange(steps)))
  labels = labels or [f"class {i}" for i in range(num_classes)]
  for i in range(num_classes):
    ax.plot(np.arange(steps), gamma[:, i], color=CLASS_COLORS[i % len(CLASS_COLORS)],
            label=labels[i], lw=1.5)
  ax.set_xlabel("step $t$")
  ax.set_ylabel(r"$\Gamma_i(t)$")
  return gamma


def heatmap(ax, values, amplitudes: Sequence[float], periods: Sequence[int],
            vmin: float = 0.0, vmax: float = 1.0, cmap: str = "viridis",
            fmt: str = "{:.2f}", title: str | None = None, labels=None,
            fontsize: float = 9):
  """Heat map of ``values[i, j]`` over amplitude ``A_i`` (rows) and period ``T_j`` (columns).

  Each cell is annotated with its value (or ``labels[i][j]``), in black or white,
  whichever reads better on the cell's colour.

  Args:
    ax: matplotlib axes.
    values: ``(len(amplitudes), len(periods))`` array.
    amplitudes: row labels (A).
    periods: column labels (T).
    vmin, vmax: colour range.
    cmap: colormap name.
    fmt: format of the annotations.
    title: optional title.
    labels: optional nested lists of annotation strings (replacing ``fmt``).
    fontsize: annotation font size.

  Returns:
    The ``AxesImage`` (for a colour bar).

  Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> image = heatmap(ax, np.array([[0.5, 0.9]]), [10], [100, 200])
    >>> [t.get_text() for t in ax.texts]
    ['0.50', '0.90']
    >>> plt.close(fig)
  """
  values = np.asarray(values, dtype=float)
  if values.shape != (len(amplitudes), len(periods)):
    raise ValueError(f"values must have shape ({len(amplitudes)}, {len(periods)}), "
                     f"got {values.shape}")
  image = ax.imshow(values, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
  ax.set_xticks(range(len(periods)), [str(t) for t in periods])
  ax.set_yticks(range(len(amplitudes)), [f"{a:g}" for a in amplitudes])
  ax.set_xlabel("period $T$")
  ax.set_ylabel("amplitude $A$")
  for i in range(values.shape[0]):
    for j in range(values.shape[1]):
      red, green, blue, _ = image.cmap(image.norm(values[i, j]))
      luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
      text = labels[i][j] if labels is not None else fmt.format(values[i, j])
      ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
              color="black" if luminance > 0.5 else "white")
  if title:
    ax.set_title(title, fontsize=10)
  return image


def gain_map(ax, gains, amplitudes: Sequence[float], periods: Sequence[int],
             title: str | None = None):
  r"""Heat map of paired gains with their intervals: mean, and ``[low, high]`` below it.

  Args:
    ax: matplotlib axes.
    gains: nested lists (amplitudes x periods) of :class:`dynloss_book.stats.Interval`,
      None for a cell without one (drawn blank, labelled "diverged").
    amplitudes, periods: the grid.
    title: optional title.

  Returns:
    The ``AxesImage``; the colour scale is symmetric about 0 (blue: gain, red: loss).

  Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from dynloss_book.stats import Interval
    >>> fig, ax = plt.subplots()
    >>> _ = gain_map(ax, [[Interval(0.002, -0.001, 0.005, 6), None]], [2.0], [250, 1000])
    >>> [t.get_text() for t in ax.texts]
    ['+0.0020\n[-0.0010, +0.0050]', 'diverged']
    >>> plt.close(fig)
  """
  means = np.array([[np.nan if g is None else g.mean for g in row] for row in gains])
  labels = [["diverged" if g is None else f"{g.mean:+.4f}\n[{g.low:+.4f}, {g.high:+.4f}]"
             for g in row] for row in gains]
  bounds = [abs(v) for row in gains for g in row if g is not None for v in (g.low, g.high)]
  limit = max(bounds + [0.002])
  return heatmap(ax, np.nan_to_num(means), amplitudes, periods, vmin=-limit, vmax=limit,
                 cmap="RdBu", labels=labels, title=title, fontsize=8)


def width_sweep(axes, widths: Sequence[int], labels: Sequence[str], train, val):
  """Train and validation accuracy against width, one line per loss (mean over seeds,
  each seed a dot).

  Args:
    axes: two matplotlib axes (train, validation).
    widths: the widths (x axis, logarithmic).
    labels: one label per loss.
    train, val: ``(losses, widths, seeds)`` final accuracies.

  Returns:
    None.
  """
  train, val = np.asarray(train, float), np.asarray(val, float)
  for ax, values, name in zip(axes, (train, val), ("train", "validation")):
    for k, label in enumerate(labels):
      color = SERIES_COLORS[k % len(SERIES_COLORS)]
      offsets = np.exp(0.04 * (k - (len(labels) - 1) / 2))  # side by side on a log axis
      for w, width in enumerate(widths):
        ax.plot(np.full(values.shape[2], width * offsets), values[k, w], ".", color=color,
                alpha=0.5, ms=5)
      ax.plot(np.array(widths) * offsets, values[k].mean(axis=-1), "-o", color=color,
              label=label, ms=4)
    ax.set_xscale("log")
    ax.set_xticks(list(widths), [str(w) for w in widths])
    ax.minorticks_off()
    ax.set_xlabel("width (hidden units)")
    ax.set_ylabel(f"final {name} accuracy")
    ax.grid(alpha=0.3)


def intervals(ax, labels: Sequence[str], values, color="C0", offset: float = 0.0,
              label: str | None = None):
  """Means with their intervals as horizontal bars, one row per label, and a line at 0.

  Args:
    ax: matplotlib axes.
    labels: one row label per interval (top to bottom).
    values: :class:`dynloss_book.stats.Interval` objects.
    color, label: the series' colour and legend label.
    offset: vertical shift of this series (to draw several side by side).

  Returns:
    None.

  Examples:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from dynloss_book.stats import Interval
    >>> fig, ax = plt.subplots()
    >>> intervals(ax, ["a", "b"], [Interval(0.01, 0.0, 0.02, 8), Interval(-0.01, -0.02, 0.0, 8)])
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['a', 'b']
    >>> plt.close(fig)
  """
  rows = -np.arange(len(labels)) + offset
  means = np.array([v.mean for v in values])
  errors = np.array([[v.mean - v.low for v in values], [v.high - v.mean for v in values]])
  ax.errorbar(means, rows, xerr=errors, fmt="o", color=color, capsize=3, ms=4, label=label)
  ax.axvline(0.0, color="0.4", lw=0.8, zorder=0)
  ax.set_yticks(-np.arange(len(labels)), list(labels))
  ax.grid(axis="x", alpha=0.3)


FIG4_COLORS = ("#b2182b", "#f1b300", "#08306b")
"""The reference notebook's colours for the three classes' weights."""


def fig4_key(fig, classes: bool = True) -> None:
  """One legend above a figure: the class weights, the GD limit 2/eta, the onsets."""
  from matplotlib.lines import Line2D
  handles = [Line2D([], [], color=FIG4_COLORS[c], label=f"$\\Gamma_{c}$ (class {c})")
             for c in range(3)] if classes else []
  handles += [Line2D([], [], color="k", ls="--", lw=1, label=r"$2/\eta$"),
              Line2D([], [], color="0.6", lw=1, label="onset of instability")]
  fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
             bbox_to_anchor=(0.5, 0.97))
