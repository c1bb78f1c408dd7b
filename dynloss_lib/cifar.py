r"""CIFAR-10: loading, checking, normalisation and flip-and-crop augmentation.

:func:`cifar10` returns the images as ``uint8`` arrays of shape ``(N, 32, 32, 3)``
(NHWC) and the labels as ``int32`` arrays in ``[0, 10)``. It reads, in order:

* a local ``.npz`` file holding ``x_train, y_train, x_test, y_test`` (for
  example the 5,085-image subset shipped beside the repository);
* a local ``cifar-10-batches-py`` folder (the official python version,
  extracted), or a folder that contains it or the official tarball;
* the official tarball ``cifar-10-python.tar.gz``, downloaded once through
  pooch into a cache folder and checked against its md5.

A truncated or corrupt file is always detected (zip CRCs for ``.npz`` files,
the md5 for the tarball, unpickling and shape checks for the batches) and
raises a ValueError; it is never used silently.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynloss_lib import checks
from dynloss_lib.checks import check_labels

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of the CIFAR-10 training images (in [0, 1])."""
STD = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of the CIFAR-10 training images."""

HOW_TO_PROVIDE = (
    f"download {URL} (md5 {MD5}) on a machine with internet and pass its path, the "
    f"extracted {FOLDER} folder, or an .npz file with x_train, y_train, x_test, y_test")


class CifarData(NamedTuple):
  """CIFAR-10 arrays: ``uint8`` images ``(N, 32, 32, 3)``, ``int32`` labels."""
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray


def default_cache_dir() -> Path:
  """``$DYNLOSS_CACHE`` or ``~/.cache/dynloss``: where downloads are kept."""
  return Path(os.environ.get("DYNLOSS_CACHE", Path.home() / ".cache" / "dynloss"))


def check_images(x, y, name: str = "data") -> None:
  """Raise a ValueError unless ``(x, y)`` are CIFAR-10 images and labels.

  Args:
    x: images, must be ``uint8`` of shape ``(N, 32, 32, 3)`` with ``N >= 1``.
    y: labels, a 1-D integer array of length ``N`` with values in ``[0, 10)``.
    name: what the arrays are (shown in the message).

  Returns:
    None.

  Examples:
    >>> check_images(np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 10]))
    Traceback (most recent call last):
    ...
    ValueError: data: labels must lie in [0, 10), got label 10 at index 1
  """
  x, y = np.asarray(x), np.asarray(y)
  if x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE or x.shape[0] == 0:
    raise ValueError(f"{name}: images must have shape (N, 32, 32, 3) with N >= 1 (NHWC), "
                     f"got shape {x.shape}")
  if x.dtype != np.uint8:
    raise ValueError(f"{name}: images must be uint8 (0-255), got dtype {x.dtype}")
  if y.ndim != 1 or y.shape[0] != x.shape[0]:
    raise ValueError(f"{name}: labels must be 1-D with one label per image ({x.shape[0]}), "
                     f"got shape {y.shape}")
  check_labels(y, NUM_CLASSES, where=f"{name}: ")


def _finish(x_train, y_train, x_test, y_test) -> CifarData:
  check_images(x_train, y_train, "training set")
  check_images(x_test, y_test, "test set")
  return CifarData(np.ascontiguousarray(x_train), np.asarray(y_train, np.int32),
                   np.ascontiguousarray(x_test), np.asarray(y_test, np.int32))


def _read_npz(path: Path) -> CifarData:
  try:
    with zipfile.ZipFile(path) as archive:
      broken = archive.testzip()  # reads every member and checks its CRC
    if broken is not None:
      raise ValueError(f"member {broken} fails its CRC check")
    with np.load(path, allow_pickle=False) as stored:
      missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in stored]
      if missing:
        raise ValueError(f"{path} has no array(s) {missing}; it holds {stored.files}")
      arrays = [stored[k] for k in ("x_train", "y_train", "x_test", "y_test")]
  except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
    if "has no array" in str(error):
      raise
    raise ValueError(f"{path} is corrupt or truncated ({error}); delete it and "
                     f"provide the data again: {HOW_TO_PROVIDE}") from None
  return _finish(*arrays)


def _unpickle_batch(raw: bytes, where: str):
  try:
    batch = pickle.loads(raw, encoding="bytes")
    data = np.asarray(batch[b"data"], np.uint8)
    labels = np.asarray(batch[b"labels"], np.int64)
  except Exception as error:  # a truncated pickle raises many kinds of errors
    raise ValueError(f"{where} is corrupt or truncated ({type(error).__name__}: {error}); "
                     f"{HOW_TO_PROVIDE}") from None
  if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
    raise ValueError(f"{where} is corrupt: expected data (n, 3072) and n labels, got "
                     f"{data.shape} and {labels.shape}")
  return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _from_batches(read, where) -> CifarData:
  train = [_unpickle_batch(read(name), f"{where}/{name}") for name in TRAIN_BATCHES]
  x_test, y_test = _unpickle_batch(read(TEST_BATCH), f"{where}/{TEST_BATCH}")
  return _finish(np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train]),
                 x_test, y_test)


def _read_folder(folder: Path) -> CifarData:
  return _from_batches(lambda name: (folder / name).read_bytes(), str(folder))


def md5sum(path) -> str:
  """Hex md5 of a file (read in chunks)."""
  digest = hashlib.md5()
  with open(path, "rb") as file:
    for chunk in iter(lambda: file.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def _read_tarball(path: Path) -> CifarData:
  found = md5sum(path)
  if found != MD5:
    raise ValueError(f"{path} is corrupt or truncated: its md5 is {found}, expected {MD5}; "
                     f"delete it and {HOW_TO_PROVIDE}")
  with tarfile.open(path, "r:gz") as archive:
    def read(name):
      return archive.extractfile(f"{FOLDER}/{name}").read()
    return _from_batches(read, str(path))


def _has_batches(folder: Path) -> bool:
  return all((folder / name).is_file() for name in TRAIN_BATCHES + (TEST_BATCH,))


def _download(cache_dir: Path, progress: bool) -> Path:
  import pooch  # imported here: only needed for downloads
  try:
    return Path(pooch.retrieve(URL, known_hash=f"md5:{MD5}", fname=TARBALL,
                               path=cache_dir, progressbar=progress))
  except Exception as error:  # offline, proxy, or a download with the wrong md5
    raise ValueError(f"could not download CIFAR-10 into {cache_dir} "
                     f"({type(error).__name__}: {str(error)[:200]}); offline, "
                     f"{HOW_TO_PROVIDE}") from None


def cifar10(source=None, *, cache_dir=None, download: bool = True,
            progress: bool = False) -> CifarData:
  """Load CIFAR-10 from a local copy, or download the official tarball.

  Args:
    source: an ``.npz`` file (``x_train, y_train, x_test, y_test``), the
      official tarball, a ``cifar-10-batches-py`` folder, or a folder that
      contains one of these. ``None``: the official tarball in ``cache_dir``,
      downloaded there first if needed.
    cache_dir: download folder (default :func:`default_cache_dir`).
    download: allow downloading when ``source`` is None.
    progress: show pooch's download progress bar.

  Returns:
    A :class:`CifarData` of ``uint8`` images ``(N, 32, 32, 3)`` and ``int32``
    labels.

  Raises:
    ValueError: no CIFAR-10 files at ``source``, a corrupt or truncated file,
      arrays of the wrong shape or dtype, labels outside ``[0, 10)``, or no
      data offline (the message says how to provide it).

  Examples:
    >>> import tempfile
    >>> cifar10(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: no CIFAR-10 files in ...
  """
  if source is None:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if (cache / TARBALL).is_file() and md5sum(cache / TARBALL) == MD5:
      return _read_tarball(cache / TARBALL)
    if not download:
      raise ValueError(f"CIFAR-10 is not in {cache} and download=False; {HOW_TO_PROVIDE}")
    return _read_tarball(_download(cache, progress))
  path = Path(source).expanduser()
  if path.is_file():
    if path.suffix == ".npz":
      return _read_npz(path)
    if path.name.endswith((".tar.gz", ".tgz")):
      return _read_tarball(path)
    raise ValueError(f"unknown CIFAR-10 file type {path}: expected an .npz file or {TARBALL}")
  if path.is_dir():
    for folder in (path, path / FOLDER):
      if _has_batches(folder):
        return _read_folder(folder)
    if (path / TARBALL).is_file():
      return _read_tarball(path / TARBALL)
    raise ValueError(f"no CIFAR-10 files in {path}: expected {FOLDER}/ (data_batch_1..5, "
                     f"test_batch), {TARBALL}, or pass an .npz file; {HOW_TO_PROVIDE}")
  raise ValueError(f"CIFAR-10 source {path} does not exist; {HOW_TO_PROVIDE}")


def subset(data: CifarData, train_size=None, test_size=None) -> CifarData:
  """The first ``train_size`` training and ``test_size`` test images.

  Args:
    data: a :class:`CifarData`.
    train_size: images kept from the training set (None: all).
    test_size: images kept from the test set (None: all).

  Returns:
    A :class:`CifarData`.

  Examples:
    >>> data = CifarData(*(np.zeros((5, 32, 32, 3), np.uint8), np.arange(5)) * 2)
    >>> subset(data, 3, 2).x_train.shape
    (3, 32, 32, 3)
  """
  for name, size, available in (("train_size", train_size, len(data.y_train)),
                                ("test_size", test_size, len(data.y_test))):
    if size is not None:
      checks.integer(name, size, minimum=1, maximum=available)
  return CifarData(data.x_train[:train_size], data.y_train[:train_size],
                   data.x_test[:test_size], data.y_test[:test_size])


def fingerprint(data: CifarData) -> str:
  """16-hex-digit sha256 of the arrays: identifies the data a result used."""
  digest = hashlib.sha256()
  for array in data:
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()[:16]


def normalise(images, dtype=jnp.float32):
  r"""``uint8`` images to ``(x / 255 - mean) / std`` per channel.

  Args:
    images: ``(..., 32, 32, 3)`` ``uint8`` array.
    dtype: output dtype.

  Returns:
    The normalised images.

  Examples:
    >>> [round(float(v), 3) for v in normalise(jnp.zeros((1, 32, 32, 3), jnp.uint8))[0, 0, 0]]
    [-1.989, -1.98, -1.707]
  """
  mean = jnp.asarray(MEAN, jnp.float32)
  std = jnp.asarray(STD, jnp.float32)
  return ((images.astype(jnp.float32) / 255.0 - mean) / std).astype(dtype)


def augment(key, images, pad: int = 4):
  r"""The usual CIFAR augmentation: random crop after padding, random flip.

  Each image is padded by ``pad`` pixels on every side (reflection), a random
  32x32 window is cut out (offsets uniform in ``[0, 2 pad]``), and the result
  is flipped left-right with probability 1/2; each image draws its own.

  Args:
    key: a ``jax.random`` key.
    images: ``(N, H, W, C)`` array.
    pad: padding in pixels (0: flips only).

  Returns:
    An array of the same shape and dtype.

  Examples:
    >>> images = jnp.arange(2 * 4 * 4 * 1, dtype=jnp.float32).reshape(2, 4, 4, 1)
    >>> augment(jax.random.PRNGKey(0), images, pad=1).shape
    (2, 4, 4, 1)
  """
  n, height, width, channels = images.shape
  crop_key, x_key, flip_key = jax.random.split(key, 3)
  if pad:
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy = jax.random.randint(crop_key, (n,), 0, 2 * pad + 1)
    dx = jax.random.randint(x_key, (n,), 0, 2 * pad + 1)
    cut = lambda image, y, x: jax.lax.dynamic_slice(image, (y, x, 0),
                                                    (height, width, channels))
    images = jax.vmap(cut)(padded, dy, dx)
  flip = jax.random.bernoulli(flip_key, 0.5, (n,))
  return jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
