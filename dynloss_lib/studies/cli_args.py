"""Argument types shared by the command-line modules (:mod:`dynloss_lib.studies.cli`, ``cifar_cli``)."""

from __future__ import annotations

import argparse


def parse_int_list(text: str) -> list[int]:
  """``"0-6"`` -> 0..6; ``"1,3,5"`` -> [1, 3, 5]; ranges and commas mix.

  Examples:
    >>> parse_int_list("0-2,5")
    [0, 1, 2, 5]
  """
  values = []
  for part in text.split(","):
    part = part.strip()
    try:
      if "-" in part[1:]:
        low, high = part.split("-", 1) if not part.startswith("-") else (part, "")
        low, high = int(low), int(high)
        if high < low:
          raise ValueError
        values.extend(range(low, high + 1))
      else:
        values.append(int(part))
    except ValueError:
      raise argparse.ArgumentTypeError(
          f"expected integers or ranges like 0-6, got {part!r}") from None
  return values


def parse_float_list(text: str) -> list[float]:
  """``"1,70"`` -> [1.0, 70.0].

  Examples:
    >>> parse_float_list("1, 2.5")
    [1.0, 2.5]
  """
  try:
    return [float(part) for part in text.split(",")]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") \
        from None
