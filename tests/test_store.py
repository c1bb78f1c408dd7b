"""Results store: round trip, atomic writes, corrupted and mismatched files."""

import warnings

import numpy as np
import pytest

from dynloss_lib import store


def test_round_trip_and_cache_hit(tmp_path):
  calls = []

  def compute():
    calls.append(1)
    return {"x": np.arange(5.0), "y": np.ones((2, 3))}, {"note": "first"}

  config = {"width": 100, "amplitude": 70.0}
  arrays, meta = store.cached(tmp_path, "demo", config, compute)
  again, meta_again = store.cached(tmp_path, "demo", dict(reversed(config.items())), compute)
  assert len(calls) == 1
  np.testing.assert_array_equal(again["x"], np.arange(5.0))
  assert meta_again == meta and meta["config"] == config and meta["summary"] == {"note": "first"}
  store.cached(tmp_path, "demo", config, compute, recompute=True)
  assert len(calls) == 2


def test_different_configs_different_files(tmp_path):
  a = store.save(tmp_path, "demo", {"seed": 0}, {"x": np.zeros(1)})
  b = store.save(tmp_path, "demo", {"seed": 1}, {"x": np.zeros(1)})
  assert a != b and a.exists() and b.exists()


def test_corrupted_file_is_recomputed_with_warning(tmp_path):
  config = {"seed": 0}
  path = store.save(tmp_path, "demo", config, {"x": np.arange(1000.0)})
  path.write_bytes(path.read_bytes()[:100])   # truncated
  with pytest.warns(UserWarning, match="corrupted"):
    assert store.load(tmp_path, "demo", config) is None
  with pytest.warns(UserWarning, match="corrupted"):
    arrays, _ = store.cached(tmp_path, "demo", config, lambda: ({"x": np.arange(3.0)}, {}))
  np.testing.assert_array_equal(arrays["x"], np.arange(3.0))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert store.load(tmp_path, "demo", config) is not None


def test_mismatched_config_is_not_reused(tmp_path):
  path = store.save(tmp_path, "demo", {"seed": 0}, {"x": np.zeros(1)})
  other = store.result_path(tmp_path, "demo", {"seed": 1})
  path.rename(other)   # e.g. a file renamed by hand
  with pytest.warns(UserWarning, match="does not match"):
    assert store.load(tmp_path, "demo", {"seed": 1}) is None


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
    store.save(tmp_path, "demo", {"seed": 0}, {"x": np.zeros(1)})
  assert list(tmp_path.iterdir()) == []


def test_bad_names(tmp_path):
  with pytest.raises(ValueError, match="name='../x'"):
    store.save(tmp_path, "../x", {}, {})
  with pytest.raises(ValueError, match="reserved"):
    store.save(tmp_path, "demo", {}, {"__meta__": np.zeros(1)})


def test_flatten_round_trip():
  tree = {"params": {"Dense_0": {"kernel": np.ones((2, 3)), "bias": np.zeros(3)}}}
  flat = store.flatten(tree, "p/")
  assert sorted(flat) == ["p/params/Dense_0/bias", "p/params/Dense_0/kernel"]
  back = store.unflatten(flat, "p/")
  np.testing.assert_array_equal(back["params"]["Dense_0"]["kernel"], np.ones((2, 3)))
