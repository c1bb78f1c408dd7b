"""Argument and data checks shared by the library: each raises a ValueError naming the bad value."""

from __future__ import annotations

import numpy as np


def positive_int(name: str, value, minimum: int = 1) -> None:
  """Raise a ValueError unless ``value`` is an integer (not a bool) >= ``minimum``.

  Examples:
    >>> positive_int("draws", 0)
    Traceback (most recent call last):
    ...
    ValueError: draws must be an integer >= 1, got draws=0
    >>> positive_int("seed", np.int64(3), minimum=0)
  """
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")


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
