"""The book's results store: one :class:`Record` per stored result.

Every study stores and loads its results here, in one shape: a :class:`Record`
holds the configuration that made the result, its history (series over the
recorded steps or epochs), its final numbers, other arrays (parameters,
measurements), the environment it was computed on and the schema version of the
file. Each record is one ``.npz`` file keyed by its configuration
(:mod:`dynloss_lib.keyed_files`: atomic writes; a corrupted or mismatched file is
reported and recomputed).

A file of another schema is refused with an error (never silently misread).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from dynloss_lib import keyed_files
from dynloss_lib.keyed_files import config_key  # noqa: F401  (public here too)
from dynloss_book import RESULTS

STORED_ONLY = "DYNLOSS_STORED_ONLY"
"""Environment variable: ``1`` (the book build and the notebook tests set it) makes computing
into the book's results folder an error, :class:`MissingResult`, instead of hours of work."""
COMMAND = "cd book && python -m dynloss_book regenerate --only-missing"
"""What computes every result the book loads that is not stored yet."""


class MissingResult(ValueError):
  """A result the book loads is not stored, and this run may not compute it."""


def refuse_computing(directory, what: str) -> None:
  """Raise :class:`MissingResult` naming ``what`` if computing into ``directory`` is refused.

  It is refused for the book's own results folder while ``DYNLOSS_STORED_ONLY=1``.
  """
  if os.environ.get(STORED_ONLY) == "1" and Path(directory).resolve() == RESULTS.resolve():
    raise MissingResult(f"{what} is not stored in {directory}, and {STORED_ONLY}=1 (the book "
                        f"build) computes nothing; compute it with: {COMMAND}")

SCHEMA = 2
"""The current file layout. 1: ``summary`` in the metadata (final numbers and,
for the later runs, ``environment``), arrays at the top level; 2: ``final``,
``environment`` and ``schema`` in the metadata, arrays under ``history/`` and
``arrays/``."""


@dataclasses.dataclass
class Record:
  """One stored result.

  Attributes:
    name: what kind of result (``"spiral"``, ``"fig4"``, ``"threshold"``, ``"cifar10-run"``).
    config: the configuration that keys it (a JSON-able dict, or an object whose
      ``to_dict()`` is one, such as :class:`~dynloss_lib.experiments.SpiralConfig`).
    final: final numbers (JSON-able).
    history: name -> series over the recorded steps (``step``) or epochs.
    arrays: other arrays (``params/...`` for parameters, measurements).
    environment: :func:`dynloss_lib.provenance.environment` of the machine that
      computed it, or None where it was not recorded.
    schema: the layout the file was written in (:data:`SCHEMA`).
  """
  name: str
  config: Any
  final: dict
  history: dict = dataclasses.field(default_factory=dict)
  arrays: dict = dataclasses.field(default_factory=dict)
  environment: dict | None = None
  schema: int = SCHEMA

  @property
  def params(self) -> dict:
    """The stored parameters (``arrays`` under ``params/``) as nested dicts."""
    return unflatten(self.arrays, "params/")

  @property
  def record_steps(self) -> np.ndarray:
    """The steps of the history."""
    return self.history["step"]


def _key(config, key=None) -> dict:
  if key is not None:
    return dict(key)
  return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def path_of(directory, name: str, config, key: Mapping | None = None) -> Path:
  """Where the record of ``config`` lives: ``directory/{name}-{hash}.npz``.

  ``key`` (default: the config itself, or its ``to_dict()``) is what is hashed.
  """
  return keyed_files.path_for(directory, name, _key(config, key))


def save(directory, record: Record, key: Mapping | None = None) -> Path:
  """Atomically write ``record`` (in the current schema) under ``key`` (see :func:`path_of`).

  Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> record = Record("demo", {"n": 3}, {"total": 3}, history={"step": np.arange(3)})
    >>> path = save(folder, record)
    >>> loaded = load(folder, "demo", {"n": 3})
    >>> loaded.final, loaded.record_steps.tolist(), loaded.schema
    ({'total': 3}, [0, 1, 2], 2)
  """
  arrays = {f"history/{k}": v for k, v in record.history.items()}
  arrays.update({f"arrays/{k}": v for k, v in record.arrays.items()})
  meta = {"schema": SCHEMA, "final": record.final, "environment": record.environment}
  return keyed_files.save(directory, record.name, _key(record.config, key), arrays, meta)


def _under(arrays: dict, prefix: str) -> dict:
  """The arrays whose names start with ``prefix``, without it."""
  return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _from_file(arrays: dict, meta: dict, config, path) -> Record:
  schema = meta.get("schema", 1)
  if schema == SCHEMA:
    return Record(meta["name"], config, meta["final"], _under(arrays, "history/"),
                  _under(arrays, "arrays/"), meta.get("environment"), schema)
  raise ValueError(f"{path} has schema {schema}; this version reads schema {SCHEMA}")


def load(directory, name: str, config, key: Mapping | None = None) -> Record | None:
  """The stored record of ``config``, or None (with a warning if the file is unusable)."""
  found = keyed_files.load(directory, name, _key(config, key))
  if found is None:
    return None
  return _from_file(*found, config, path_of(directory, name, config, key))


def cached(directory, name: str, config, compute: Callable[[], Record],
           recompute: bool = False, key: Mapping | None = None) -> Record:
  """Load the record of ``config`` if stored, else ``compute()`` it and store it.

  Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> record = cached(folder, "demo", {"n": 3},
    ...                 lambda: Record("demo", {"n": 3}, {"total": 3}, arrays={"x": np.arange(3)}))
    >>> record.arrays["x"], record.final
    (array([0, 1, 2]), {'total': 3})
  """
  if not recompute:
    found = load(directory, name, config, key)
    if found is not None:
      return found
  refuse_computing(directory, f"the {name} result of {config}")
  record = compute()
  if record.name != name:
    raise ValueError(f"compute() returned a record named {record.name!r}, not {name!r}")
  save(directory, record, key if key is not None else _key(config))
  loaded = load(directory, name, config, key)
  if loaded is None:
    raise RuntimeError(f"the record just written to {path_of(directory, name, config, key)} "
                       "cannot be read back")
  return loaded


def read(path) -> Record:
  """The record in the file at ``path`` (``config`` as stored, a dict)."""
  arrays, meta = keyed_files.read(path)
  return _from_file(arrays, meta, meta["config"], path)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
  """Nested dicts of arrays -> flat ``{"a/b/c": array}`` (for params).

  Examples:
    >>> sorted(flatten({"a": {"b": np.zeros(1)}, "c": np.ones(2)}))
    ['a/b', 'c']
  """
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(flatten(value, f"{prefix}{key}/"))
    else:
      flat[f"{prefix}{key}"] = np.asarray(value)
  return flat


def unflatten(flat: Mapping[str, Any], prefix: str = "") -> dict:
  """Inverse of :func:`flatten` for the keys under ``prefix``.

  Examples:
    >>> unflatten({"p/a/b": 1, "p/c": 2, "q": 3}, prefix="p/")
    {'a': {'b': 1}, 'c': 2}
  """
  tree: dict = {}
  for key, value in flat.items():
    if not key.startswith(prefix):
      continue
    *parents, leaf = key[len(prefix):].split("/")
    node = tree
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree
