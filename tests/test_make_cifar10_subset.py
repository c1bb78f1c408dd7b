"""scripts/make_cifar10_subset.py on synthetic tarballs in the official CIFAR-10 python format."""

import hashlib
import importlib.util
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_SUBSET = ROOT.parent / "shared" / "data" / "cifar10_subset.npz"
spec = importlib.util.spec_from_file_location("make_cifar10_subset",
                                              ROOT / "scripts" / "make_cifar10_subset.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def raw_batch(index, count):
  """A batch as the official pickles hold it: rows of 3072 uint8 in CHW order, a label list."""
  i, c, h, w = np.meshgrid(np.arange(count), np.arange(3), np.arange(32), np.arange(32),
                           indexing="ij")
  data = ((31 * index + 7 * i + 50 * c + 3 * h + w) % 256).astype(np.uint8).reshape(count, 3072)
  labels = [int((index + 3 * j) % 10) for j in range(count)]
  return data, labels


def write_tarball(path, count, skip=()):
  with tarfile.open(path, "w:gz") as archive:
    for index, name in enumerate(BATCHES):
      if name in skip:
        continue
      data, labels = raw_batch(index, count)
      payload = pickle.dumps({b"batch_label": name.encode(), b"data": data, b"labels": labels})
      info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
      info.size = len(payload)
      archive.addfile(info, io.BytesIO(payload))
  return path


def expected_arrays(per_batch):
  """What the subset must be, computed here without the script: pixel by pixel from the rows."""
  def images_and_labels(index):
    data, labels = raw_batch(index, per_batch)
    images = np.zeros((per_batch, 32, 32, 3), np.uint8)
    for channel in range(3):
      images[..., channel] = data[:, channel * 1024:(channel + 1) * 1024].reshape(-1, 32, 32)
    return images, np.array(labels[:per_batch], np.uint8)
  train = [images_and_labels(index) for index in range(5)]
  x_test, y_test = images_and_labels(5)
  return {"x_train": np.concatenate([x for x, _ in train]),
          "y_train": np.concatenate([y for _, y in train]), "x_test": x_test, "y_test": y_test}


def sha256_of(arrays):
  digest = hashlib.sha256()
  for key in ("x_train", "y_train", "x_test", "y_test"):
    array = np.ascontiguousarray(arrays[key])
    digest.update(f"{key}:{array.dtype.str}:{array.shape}\n".encode() + array.tobytes())
  return digest.hexdigest()


def test_subset_is_the_first_images_of_each_batch_in_order(tmp_path):
  tarball = write_tarball(tmp_path / "cifar-10-python.tar.gz", count=6)
  arrays = script.make_subset(tarball, per_batch=4)
  expected = expected_arrays(4)
  assert {k: (v.shape, v.dtype) for k, v in arrays.items()} == {
      "x_train": ((20, 32, 32, 3), np.uint8), "y_train": ((20,), np.uint8),
      "x_test": ((4, 32, 32, 3), np.uint8), "y_test": ((4,), np.uint8)}
  for key in expected:
    np.testing.assert_array_equal(arrays[key], expected[key], err_msg=key)
  assert script.array_sha256(arrays) == sha256_of(expected)


def test_command_writes_the_subset_only_when_its_hash_matches(tmp_path, capsys):
  tarball = write_tarball(tmp_path / "cifar-10-python.tar.gz", count=script.PER_BATCH + 2)
  expected = expected_arrays(script.PER_BATCH)
  out = tmp_path / "subset.npz"
  # the real subset's hash: the synthetic arrays differ, so nothing is written
  assert script.main([str(tarball), str(out)]) == 1
  assert not out.exists()
  assert script.EXPECTED_SHA256 in capsys.readouterr().err
  assert script.main([str(tarball), str(out), "--expected-sha256", sha256_of(expected)]) == 0
  assert f"array sha256: {sha256_of(expected)}" in capsys.readouterr().out
  with np.load(out) as stored:
    assert sorted(stored.files) == sorted(expected)
    for key in expected:
      np.testing.assert_array_equal(stored[key], expected[key], err_msg=key)
      assert stored[key].dtype == np.uint8


def test_bad_tarballs_are_named_in_the_error(tmp_path, capsys):
  missing = write_tarball(tmp_path / "missing.tar.gz", count=6, skip=("data_batch_3",))
  with pytest.raises(ValueError, match="data_batch_3"):
    script.make_subset(missing, per_batch=4)
  short = write_tarball(tmp_path / "short.tar.gz", count=3)
  with pytest.raises(ValueError, match="holds 3 images, fewer than the 4"):
    script.make_subset(short, per_batch=4)
  with pytest.raises(ValueError, match="nowhere.tar.gz"):
    script.make_subset(tmp_path / "nowhere.tar.gz")
  assert script.main([str(tmp_path / "nowhere.tar.gz"), str(tmp_path / "out.npz")]) == 1
  assert "nowhere.tar.gz" in capsys.readouterr().err


@pytest.mark.skipif(not SHARED_SUBSET.exists(), reason=f"{SHARED_SUBSET} is not here")
def test_recorded_hash_is_that_of_the_stored_subset_and_the_tiny_slice_is_its_start():
  with np.load(SHARED_SUBSET) as stored:
    subset = {key: stored[key] for key in stored.files}
  assert script.array_sha256(subset) == script.EXPECTED_SHA256
  assert subset["x_train"].shape == (5 * script.PER_BATCH, 32, 32, 3)
  with np.load(ROOT / "book" / "data" / "cifar10_tiny.npz") as tiny:
    for key, count in (("x_train", 300), ("y_train", 300), ("x_test", 100), ("y_test", 100)):
      np.testing.assert_array_equal(tiny[key], subset[key][:count], err_msg=key)
