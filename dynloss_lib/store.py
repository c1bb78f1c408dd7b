"""A results store: arrays saved under a hash of the configuration that made them.

Each result is one ``.npz`` file named ``{name}-{key}.npz`` where ``key`` is a
hash of the full configuration (a JSON-able dict). The file also holds the
configuration itself, so a file whose stored configuration does not match the
request (a hash collision, a renamed file) is never reused. Writes go to a
temporary file that is renamed into place, so a crash never leaves a half
file under the real name. A corrupted or mismatched file is reported with a
warning and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

_META = "__meta__"


def config_key(config: Mapping[str, Any]) -> str:
  """Stable 16-hex-digit hash of a JSON-able configuration.

  Args:
    config: the configuration; key order does not matter.

  Returns:
    The key.

  Examples:
    >>> config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    True
    >>> len(config_key({"a": 1}))
    16
  """
  text = json.dumps(config, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def result_path(directory, name: str, config: Mapping[str, Any]) -> Path:
  """Where the result of ``config`` lives: ``directory/{name}-{key}.npz``."""
  if not name or "/" in name or name.startswith("."):
    raise ValueError(f"a result name must be a plain file stem, got {name=}")
  return Path(directory) / f"{name}-{config_key(config)}.npz"


def _canonical(config):
  return json.loads(json.dumps(config, sort_keys=True))


def save(directory, name: str, config: Mapping[str, Any], arrays: Mapping[str, Any],
         summary: Mapping[str, Any] | None = None) -> Path:
  """Atomically save ``arrays`` (name -> array) under ``config``.

  Args:
    directory: the store's folder (created if missing).
    name: a short name for the kind of result.
    config: the JSON-able configuration that produced the arrays.
    arrays: name -> numpy-convertible array.
    summary: JSON-able extra information (final numbers, timings).

  Returns:
    The file's path.
  """
  path = result_path(directory, name, config)
  path.parent.mkdir(parents=True, exist_ok=True)
  if _META in arrays:
    raise ValueError(f"the array name {_META!r} is reserved")
  meta = json.dumps({"name": name, "config": _canonical(config),
                     "summary": dict(summary or {})}, sort_keys=True)
  handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
  try:
    with os.fdopen(handle, "wb") as file:
      np.savez_compressed(file, **{_META: np.array(meta)},
                          **{k: np.asarray(v) for k, v in arrays.items()})
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException:
    Path(temporary).unlink(missing_ok=True)
    raise
  return path


def load(directory, name: str, config: Mapping[str, Any]):
  """Load the stored result of ``config``, or None if there is no usable one.

  A missing file returns None silently; an unreadable file, or one whose stored
  configuration differs from ``config``, returns None with a warning.

  Args:
    directory: the store's folder.
    name: the result's name.
    config: the configuration.

  Returns:
    ``(arrays, meta)`` with arrays a dict of numpy arrays and meta the stored
    ``{"name", "config", "summary"}``; or None.
  """
  path = result_path(directory, name, config)
  if not path.exists():
    return None
  try:
    with np.load(path, allow_pickle=False) as stored:
      meta = json.loads(str(stored[_META]))
      arrays = {k: stored[k] for k in stored.files if k != _META}
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
          json.JSONDecodeError) as error:
    warnings.warn(f"ignoring corrupted result {path}: {error!r}; it will be recomputed",
                  stacklevel=2)
    return None
  if meta.get("config") != _canonical(config) or meta.get("name") != name:
    warnings.warn(f"ignoring {path}: its stored configuration does not match the request; "
                  "it will be recomputed", stacklevel=2)
    return None
  return arrays, meta


def cached(directory, name: str, config: Mapping[str, Any],
           compute: Callable[[], tuple[Mapping[str, Any], Mapping[str, Any]]],
           recompute: bool = False):
  """Load the result of ``config`` if stored, else ``compute()`` and store it.

  Args:
    directory: the store's folder.
    name: the result's name.
    config: the configuration.
    compute: returns ``(arrays, summary)``.
    recompute: ignore a stored result.

  Returns:
    ``(arrays, meta)`` as :func:`load`.

  Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> arrays, meta = cached(folder, "demo", {"n": 3},
    ...                       lambda: ({"x": np.arange(3)}, {"total": 3}))
    >>> arrays["x"], meta["summary"]
    (array([0, 1, 2]), {'total': 3})
  """
  if not recompute:
    found = load(directory, name, config)
    if found is not None:
      return found
  arrays, summary = compute()
  save(directory, name, config, arrays, summary)
  loaded = load(directory, name, config)
  if loaded is None:
    raise RuntimeError(f"the result just written to {result_path(directory, name, config)} "
                       "cannot be read back")
  return loaded


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
