"""Atomic ``.npz`` files keyed by a hash of the configuration that made them.

Each file is named ``{name}-{key}.npz``, ``key`` a hash of a JSON-able
configuration, and also holds that configuration, so a file whose stored
configuration does not match the request (a hash collision, a renamed file) is
never reused. Writes go to a temporary file renamed into place, so a crash never
leaves half a file under the real name; an unreadable or mismatched file is
reported with a warning and treated as missing. The minibatch engine keeps its
checkpoints here; :mod:`dynloss_book.store` keeps the book's results on top.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

META = "__meta__"
"""The array holding the file's JSON metadata (``name``, ``config`` and the caller's fields)."""


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


def path_for(directory, name: str, config: Mapping[str, Any]) -> Path:
  """Where the file of ``config`` lives: ``directory/{name}-{key}.npz``.

  Examples:
    >>> path_for("results", "../x", {})
    Traceback (most recent call last):
    ...
    ValueError: a file name must be a plain file stem, got name='../x'
  """
  if not name or "/" in name or name.startswith("."):
    raise ValueError(f"a file name must be a plain file stem, got {name=}")
  return Path(directory) / f"{name}-{config_key(config)}.npz"


def canonical(config):
  """``config`` as it reads back from JSON (tuples become lists)."""
  return json.loads(json.dumps(config, sort_keys=True))


def save(directory, name: str, config: Mapping[str, Any], arrays: Mapping[str, Any],
         meta: Mapping[str, Any] | None = None) -> Path:
  """Atomically write ``arrays`` (name -> array) and JSON ``meta`` under ``config``.

  Returns:
    The file's path.

  Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = save(folder, "demo", {"n": 2}, {"x": np.arange(2)}, {"note": "hi"})
    >>> arrays, meta = load(folder, "demo", {"n": 2})
    >>> arrays["x"].tolist(), meta["note"], meta["config"]
    ([0, 1], 'hi', {'n': 2})
  """
  path = path_for(directory, name, config)
  path.parent.mkdir(parents=True, exist_ok=True)
  if META in arrays:
    raise ValueError(f"the array name {META!r} is reserved")
  text = json.dumps({**dict(meta or {}), "name": name, "config": canonical(config)},
                    sort_keys=True)
  handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
  try:
    with os.fdopen(handle, "wb") as file:
      np.savez_compressed(file, **{META: np.array(text)},
                          **{k: np.asarray(v) for k, v in arrays.items()})
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException:
    Path(temporary).unlink(missing_ok=True)
    raise
  return path


def read(path) -> tuple[dict, dict]:
  """``(arrays, meta)`` of one file; raises what reading it raises."""
  with np.load(path, allow_pickle=False) as stored:
    return ({k: stored[k] for k in stored.files if k != META},
            json.loads(str(stored[META])))


def load(directory, name: str, config: Mapping[str, Any]):
  """The file of ``config`` as ``(arrays, meta)``, or None if there is no usable one.

  A missing file returns None silently; an unreadable file, or one whose stored
  name or configuration differs from the request, returns None with a warning.
  """
  path = path_for(directory, name, config)
  if not path.exists():
    return None
  try:
    arrays, meta = read(path)
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
          json.JSONDecodeError) as error:
    warnings.warn(f"ignoring corrupted file {path}: {error!r}; it will be recomputed",
                  stacklevel=2)
    return None
  if meta.get("config") != canonical(config) or meta.get("name") != name:
    warnings.warn(f"ignoring {path}: its stored configuration does not match the request; "
                  "it will be recomputed", stacklevel=2)
    return None
  return arrays, meta
