"""Argument and data checks, the one place the library validates its inputs: each raises a
ValueError naming the bad value (``f"... got {name}={value!r}"``)."""

from __future__ import annotations

import numpy as np


def _shown(value):
  """``value`` as the message shows it (a numpy scalar as the Python number it holds)."""
  return repr(value.item() if isinstance(value, np.generic) else value)


def integer(name: str, value, minimum: int | None = 1, maximum: int | None = None,
            note: str = "") -> None:
  """Raise a ValueError unless ``value`` is an integer (Python or numpy, not a bool) in range.

  Args:
    name: the argument's name, for the message.
    value: the value.
    minimum: the smallest allowed value (None: no bound).
    maximum: the largest allowed value (None: no bound).
    note: said in brackets after the range (where the bound comes from).

  Examples:
    >>> integer("draws", 0)
    Traceback (most recent call last):
    ...
    ValueError: draws must be an integer >= 1, got draws=0
    >>> integer("seed", np.int64(3), minimum=0)
    >>> integer("seed", True, minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer >= 0, got seed=True
    >>> integer("static_epochs", 7, minimum=0, maximum=5)
    Traceback (most recent call last):
    ...
    ValueError: static_epochs must be an integer in [0, 5], got static_epochs=7
  """
  ok = not isinstance(value, bool) and isinstance(value, (int, np.integer))
  ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
  if not ok:
    if minimum is not None and maximum is not None:
      bounds = f" in [{minimum}, {maximum}]"
    elif maximum is not None:
      bounds = f" <= {maximum}"
    else:
      bounds = f" >= {minimum}" if minimum is not None else ""
    note = f" ({note})" if note else ""
    raise ValueError(f"{name} must be an integer{bounds}{note}, got {name}={_shown(value)}")


def number(name: str, value, *, above: float | None = None, minimum: float | None = None,
           below: float | None = None) -> None:
  """Raise a ValueError unless ``value`` is a finite real number (not a bool) in range.

  Args:
    name: the argument's name, for the message.
    value: the value.
    above: ``value`` must be greater than this (None: no bound).
    minimum: ``value`` must be at least this (None: no bound).
    below: ``value`` must be less than this (None: no bound).

  Examples:
    >>> number("learning_rate", 0.0, above=0)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a finite number > 0, got learning_rate=0.0
    >>> number("amplitude", float("nan"), minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: amplitude must be a finite number >= 1, got amplitude=nan
    >>> number("warmup_fraction", 1.0, minimum=0, below=1)
    Traceback (most recent call last):
    ...
    ValueError: warmup_fraction must be a finite number >= 0 and < 1, got warmup_fraction=1.0
  """
  ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
  ok = ok and bool(np.isfinite(value))
  ok = ok and (above is None or value > above) and (minimum is None or value >= minimum)
  ok = ok and (below is None or value < below)
  if not ok:
    bounds = [f"> {above:g}" if above is not None else "", f">= {minimum:g}" if minimum is not None
              else "", f"< {below:g}" if below is not None else ""]
    text = " and ".join(b for b in bounds if b)
    raise ValueError(f"{name} must be a finite number{' ' + text if text else ''}, "
                     f"got {name}={_shown(value)}")


def one_of(name: str, value, choices) -> None:
  """Raise a ValueError unless ``value`` is one of ``choices``.

  Examples:
    >>> one_of("shape", "zigzag", ("triangle", "sine"))
    Traceback (most recent call last):
    ...
    ValueError: shape must be one of ('triangle', 'sine'), got shape='zigzag'
  """
  if value not in tuple(choices):
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {name}={value!r}")


def check_labels(labels, num_classes: int, where: str = "") -> None:
  """Raise a ValueError unless ``labels`` are integers in ``[0, num_classes)``.

  Args:
    labels: array of labels.
    num_classes: the number of classes.
    where: optional prefix naming the data set in the message.

  Returns:
    None.

  Examples:
    >>> check_labels(np.array([0, 1, 5]), 3, where="test set: ")
    Traceback (most recent call last):
    ...
    ValueError: test set: labels must lie in [0, 3), got label 5 at index 2
  """
  labels = np.asarray(labels)
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{where}labels must be integers, got dtype {labels.dtype}")
  bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
  if bad.size:
    raise ValueError(f"{where}labels must lie in [0, {num_classes}), got label "
                     f"{labels[bad[0]]} at index {bad[0]}")


def check_dataset(x, labels, num_classes: int) -> None:
  """Raise a ValueError naming the problem if ``(x, labels)`` is unusable.

  Args:
    x: inputs, first axis the samples.
    labels: integer labels, one per sample.
    num_classes: labels must lie in ``[0, num_classes)``.

  Returns:
    None.

  Examples:
    >>> check_dataset(np.zeros((2, 2)), np.array([0, 3]), num_classes=3)
    Traceback (most recent call last):
    ...
    ValueError: labels must lie in [0, 3), got label 3 at index 1
  """
  x = np.asarray(x)
  labels = np.asarray(labels)
  if x.shape[0] != labels.shape[0]:
    raise ValueError(f"x and labels must have the same length, got {x.shape[0]} and "
                     f"{labels.shape[0]}")
  if x.shape[0] == 0:
    raise ValueError("the data set is empty")
  check_labels(labels, num_classes)
  if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
    index = np.argwhere(~np.isfinite(x))[0]
    raise ValueError(f"x must be finite, got {x[tuple(index)]} at index {tuple(index)}")


def as_python_ints(config, names) -> None:
  """Store the (checked) integer fields ``names`` of a frozen config as Python ints, so that
  numpy integers give the same JSON keys (None stays None)."""
  for name in names:
    if getattr(config, name) is not None:
      object.__setattr__(config, name, int(getattr(config, name)))


def config_dict(config) -> dict:
  """A configuration's fields as the dict that keys its stored results.

  The one rule for every configuration class: all dataclass fields, except those named
  in the class's ``ADDED_FIELDS`` (fields added after results were first stored) while
  they hold the default given there, so that adding a field keeps every earlier key.

  Examples:
    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Run:
    ...   ADDED_FIELDS = {"loss": "cross_entropy"}
    ...   seed: int = 0
    ...   loss: str = "cross_entropy"
    >>> config_dict(Run()), config_dict(Run(loss="mse"))
    ({'seed': 0}, {'seed': 0, 'loss': 'mse'})
  """
  import dataclasses
  fields = dataclasses.asdict(config)
  for name, default in type(config).ADDED_FIELDS.items():
    if fields[name] == default:
      del fields[name]
  return fields
