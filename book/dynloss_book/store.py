"""The book's results store: one :class:`Record` per stored result.

Every study stores and loads its results here, in one shape: a :class:`Record`
holds the configuration that made the result, its history (series over the
recorded steps or epochs), its final numbers, other arrays (parameters,
measurements), the environment it was computed on and the schema version of the
file. Each record is one ``.npz`` file keyed by its configuration
(:mod:`dynloss_lib.keyed_files`: atomic writes; a corrupted or mismatched file is
reported and recomputed).

A file written under an older schema is migrated when it is read, with a
warning (never silently misread); :func:`migrate` rewrites a folder's files in
the current schema once and for all.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from dynloss_lib import keyed_files
from dynloss_lib.keyed_files import config_key  # noqa: F401  (public here too)

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
  if schema != 1:
    raise ValueError(f"{path} has schema {schema}; this version reads schemas 1 to {SCHEMA}")
  warnings.warn(f"{path} is in schema 1; read by migration (python scripts/migrate_results.py "
                f"{Path(path).parent} rewrites it in schema {SCHEMA})", stacklevel=3)
  final = dict(meta.get("summary", {}))
  environment = final.pop("environment", None)
  if meta["name"] == "cifar10-run":  # schema 1 kept a CIFAR run's per-epoch history at the top
    history, others = dict(arrays), {}
    if "diverged_epoch" not in final:  # written before divergence was detected
      bad = ~(np.isfinite(history["train_loss"]) & np.isfinite(history["test_loss"]))
      final["diverged_epoch"] = int(np.argmax(bad)) if bad.any() else None
  else:
    history = _under(arrays, "history/")
    others = {k: v for k, v in arrays.items() if not k.startswith("history/")}
  if "record_steps" in others:  # spiral runs kept their history's steps at the top level
    history["step"] = others.pop("record_steps")
  return Record(meta["name"], config, final, history, others, environment, 1)


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
  record = compute()
  if record.name != name:
    raise ValueError(f"compute() returned a record named {record.name!r}, not {name!r}")
  save(directory, record, key if key is not None else _key(config))
  loaded = load(directory, name, config, key)
  if loaded is None:
    raise RuntimeError(f"the record just written to {path_of(directory, name, config, key)} "
                       "cannot be read back")
  return loaded


def read(path, quiet: bool = False) -> Record:
  """The record in the file at ``path``, whatever its schema (``config`` as stored, a dict).

  ``quiet`` silences the warning about an older schema.
  """
  arrays, meta = keyed_files.read(path)
  with warnings.catch_warnings():
    if quiet:
      warnings.simplefilter("ignore")
    return _from_file(arrays, meta, meta["config"], path)


def migrate(directory) -> list[Path]:
  """Rewrite every file of ``directory`` written in an older schema in the current one.

  Returns:
    The rewritten files. Numbers and arrays are unchanged (a test compares them).
  """
  rewritten = []
  for path in sorted(Path(directory).glob("*.npz")):
    record = read(path, quiet=True)
    if record.schema == SCHEMA:
      continue
    written = save(directory, record)
    if written != path:
      raise RuntimeError(f"{path} is not named by its configuration's key ({written.name})")
    rewritten.append(path)
  return rewritten


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
