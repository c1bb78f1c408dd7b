"""Keyed files and the results store: round trip, atomic writes, corrupted and mismatched
files, one Record for every study, a refused schema, and every stored result."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from dynloss_lib import keyed_files
from dynloss_book import store

RESULTS = Path(__file__).resolve().parents[1] / "book" / "results"


def _demo(n=3, config=None):
  return store.Record("demo", config or {"n": n}, {"total": n},
                      history={"step": np.arange(n)}, arrays={"x": np.arange(n) * 2.0},
                      environment={"jax": "0"})


def test_round_trip_and_cache_hit(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return _demo(config={"width": 100, "amplitude": 70.0})

  config = {"width": 100, "amplitude": 70.0}
  record = store.cached(tmp_path, "demo", config, compute)
  again = store.cached(tmp_path, "demo", dict(reversed(config.items())), compute)
  assert len(calls) == 1
  np.testing.assert_array_equal(again.arrays["x"], [0.0, 2.0, 4.0])
  np.testing.assert_array_equal(again.record_steps, [0, 1, 2])
  assert (again.final, again.environment, again.schema) == ({"total": 3}, {"jax": "0"}, 2)
  assert record.final == again.final
  store.cached(tmp_path, "demo", config, compute, recompute=True)
  assert len(calls) == 2


def test_explicit_key_and_typed_config(tmp_path):
  class Config:
    def to_dict(self):
      return {"a": 1}
  path = store.save(tmp_path, store.Record("demo", Config(), {}), key={"run": {"a": 1}})
  assert path == keyed_files.path_for(tmp_path, "demo", {"run": {"a": 1}})
  config = Config()
  loaded = store.load(tmp_path, "demo", config, key={"run": {"a": 1}})
  assert loaded.config is config  # the caller's config object, not the stored dict
  assert store.load(tmp_path, "demo", config) is None  # the key {"a": 1} is another file


def test_cached_refuses_a_record_of_another_kind(tmp_path):
  with pytest.raises(ValueError, match="record named 'other', not 'demo'"):
    store.cached(tmp_path, "demo", {"n": 1}, lambda: store.Record("other", {"n": 1}, {}))


def test_different_configs_different_files(tmp_path):
  a = store.save(tmp_path, _demo(1))
  b = store.save(tmp_path, _demo(2))
  assert a != b and a.exists() and b.exists()


def test_corrupted_file_is_recomputed_with_warning(tmp_path):
  path = store.save(tmp_path, _demo(1000))
  path.write_bytes(path.read_bytes()[:100])   # truncated
  with pytest.warns(UserWarning, match="corrupted"):
    assert store.load(tmp_path, "demo", {"n": 1000}) is None
  with pytest.warns(UserWarning, match="corrupted"):
    record = store.cached(tmp_path, "demo", {"n": 1000}, lambda: _demo(1000))
  assert record.final == {"total": 1000}
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert store.load(tmp_path, "demo", {"n": 1000}) is not None


def test_mismatched_config_is_not_reused(tmp_path):
  path = store.save(tmp_path, _demo(1))
  path.rename(store.path_of(tmp_path, "demo", {"n": 2}))   # e.g. a file renamed by hand
  with pytest.warns(UserWarning, match="does not match"):
    assert store.load(tmp_path, "demo", {"n": 2}) is None


def test_failed_compute_leaves_nothing(tmp_path):
  def boom():
    raise RuntimeError("interrupted")
  with pytest.raises(RuntimeError):
    store.cached(tmp_path, "demo", {"seed": 0}, boom)
  assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
  def broken_savez(file, **arrays):
    file.write(b"partial")
    raise OSError("disk full")
  monkeypatch.setattr(np, "savez_compressed", broken_savez)
  with pytest.raises(OSError, match="disk full"):
    store.save(tmp_path, _demo())
  assert list(tmp_path.iterdir()) == []


def test_bad_names(tmp_path):
  with pytest.raises(ValueError, match="name='../x'"):
    store.save(tmp_path, store.Record("../x", {}, {}))
  with pytest.raises(ValueError, match="reserved"):
    keyed_files.save(tmp_path, "demo", {}, {"__meta__": np.zeros(1)})


def test_another_schema_is_refused(tmp_path):
  # a file of the retired schema 1 (no stored result has it any more)
  keyed_files.save(tmp_path, "spiral", {"run": {"seed": 4}}, {"record_steps": np.arange(2)},
                   {"summary": {"train_accuracy": 0.9}})
  with pytest.raises(ValueError, match="schema 1; this version reads schema 2"):
    store.load(tmp_path, "spiral", {"run": {"seed": 4}})


def test_a_newer_schema_is_refused(tmp_path):
  keyed_files.save(tmp_path, "demo", {"n": 1}, {}, {"schema": store.SCHEMA + 1})
  with pytest.raises(ValueError, match=f"schema {store.SCHEMA + 1}; this version reads"):
    store.load(tmp_path, "demo", {"n": 1})


def test_every_stored_result_is_in_the_current_schema_and_named_by_its_key():
  paths = sorted(RESULTS.glob("*.npz"))
  assert len(paths) > 300
  for path in paths:
    _, meta = keyed_files.read(path)
    assert meta.get("schema") == store.SCHEMA, path.name
    assert keyed_files.path_for(RESULTS, meta["name"], meta["config"]) == path
    assert set(meta) == {"name", "config", "schema", "final", "environment"}, path.name
    json.dumps(meta["final"])


def test_flatten_round_trip():
  tree = {"params": {"Dense_0": {"kernel": np.ones((2, 3)), "bias": np.zeros(3)}}}
  flat = store.flatten(tree, "p/")
  assert sorted(flat) == ["p/params/Dense_0/bias", "p/params/Dense_0/kernel"]
  back = store.unflatten(flat, "p/")
  np.testing.assert_array_equal(back["params"]["Dense_0"]["kernel"], np.ones((2, 3)))
