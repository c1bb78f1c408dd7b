"""Rebuild the CIFAR-10 subset of the CIFAR chapter (cifar10_subset.npz) from the official tarball.

Usage (from the repository root):

  python scripts/make_cifar10_subset.py PATH/TO/cifar-10-python.tar.gz OUT.npz

The subset is the first 1,017 images of each of the five training batches (data_batch_1 to
data_batch_5, in that order: 5,085 training images) and the first 1,017 images of test_batch of
the official python version of CIFAR-10, stored as

  x_train (5085, 32, 32, 3) uint8, y_train (5085,) uint8,
  x_test  (1017, 32, 32, 3) uint8, y_test  (1017,) uint8,

images in NHWC order (each pickled batch holds b"data", rows of 3072 uint8 in CHW order, and
b"labels"). The script prints the SHA-256 of the arrays (see array_sha256: the bytes of the
arrays, not of the .npz file, whose zip metadata varies) and writes OUT.npz only if it equals
EXPECTED_SHA256, the hash of the subset the book's stored results were trained on
(--expected-sha256 checks against another value, for example for a test tarball).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np

PER_BATCH = 1017
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
KEYS = ("x_train", "y_train", "x_test", "y_test")
EXPECTED_SHA256 = "ad36951d42e14c6de3865c3dc06869e14db15e47161ebf5e996b1678db8df725"
"""array_sha256 of ../shared/data/cifar10_subset.npz, the subset the stored results used."""


def array_sha256(arrays: dict) -> str:
  """SHA-256 over each array of KEYS in order: a ``name:dtype:shape`` line, then its C-order bytes."""
  digest = hashlib.sha256()
  for key in KEYS:
    array = np.ascontiguousarray(arrays[key])
    digest.update(f"{key}:{array.dtype.str}:{array.shape}\n".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def _read_batch(archive: tarfile.TarFile, name: str, count: int):
  members = [m for m in archive.getmembers() if m.isfile() and Path(m.name).name == name]
  if len(members) != 1:
    raise ValueError(f"the tarball must hold exactly one file named {name!r}, found "
                     f"{[m.name for m in members]}")
  batch = pickle.loads(archive.extractfile(members[0]).read(), encoding="bytes")
  data = np.asarray(batch[b"data"], dtype=np.uint8)
  labels = np.asarray(batch[b"labels"])
  if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
    raise ValueError(f"{name}: expected data (n, 3072) and n labels, got {data.shape} and "
                     f"{labels.shape}")
  if data.shape[0] < count:
    raise ValueError(f"{name} holds {data.shape[0]} images, fewer than the {count} needed")
  if labels.min() < 0 or labels.max() > 9:
    raise ValueError(f"{name}: labels must be in [0, 9], got {labels.min()} to {labels.max()}")
  images = data[:count].reshape(count, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels[:count].astype(np.uint8)


def make_subset(tarball, per_batch: int = PER_BATCH) -> dict:
  """The subset's arrays from the official ``cifar-10-python.tar.gz`` (or one in its format)."""
  if per_batch < 1:
    raise ValueError(f"per_batch must be >= 1, got {per_batch=}")
  path = Path(tarball)
  if not path.is_file():
    raise ValueError(f"no tarball at {path}")
  with tarfile.open(path, "r:gz") as archive:
    train = [_read_batch(archive, name, per_batch) for name in TRAIN_BATCHES]
    x_test, y_test = _read_batch(archive, TEST_BATCH, per_batch)
  return {"x_train": np.concatenate([x for x, _ in train]),
          "y_train": np.concatenate([y for _, y in train]), "x_test": x_test, "y_test": y_test}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("tarball", help="the official cifar-10-python.tar.gz")
  parser.add_argument("out", help="the .npz file to write")
  parser.add_argument("--expected-sha256", default=EXPECTED_SHA256,
                      help="array hash to check against (default: the book's subset)")
  args = parser.parse_args(argv)
  if not args.out.endswith(".npz"):
    parser.error(f"OUT must end in .npz, got {args.out!r}")
  try:
    arrays = make_subset(args.tarball)
  except (ValueError, tarfile.TarError, OSError, pickle.UnpicklingError, KeyError) as error:
    print(f"error: cannot read {args.tarball}: {error}", file=sys.stderr)
    return 1
  found = array_sha256(arrays)
  for key in KEYS:
    print(f"{key}: {arrays[key].shape} {arrays[key].dtype}")
  print(f"array sha256: {found}")
  if found != args.expected_sha256:
    print(f"error: the arrays differ from the expected subset (sha256 {args.expected_sha256}); "
          f"{args.out} was not written", file=sys.stderr)
    return 1
  np.savez_compressed(args.out, **arrays)
  print(f"wrote {args.out} (matches the expected array hash)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
