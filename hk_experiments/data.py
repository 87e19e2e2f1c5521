"""Image-classification data sets for training and benchmarking, offline first.

Three data sets are known (see :data:`DATASETS`):

* ``digits``: scikit-learn's 8x8 digits, shipped inside scikit-learn, so it is
  always available; split 80/20, stratified, with a fixed random state.
* ``fashion_mnist``: the four IDX files of Fashion-MNIST, read from a
  directory; by default the one Debian's ``dataset-fashion-mnist`` package
  installs (:data:`FASHION_MNIST_DIR`).
* ``mnist``: the four IDX files of MNIST from a directory or, without one,
  ``keras.datasets.mnist.load_data()`` (which needs network access unless its
  cache already holds the file).

Every loader returns a :class:`Dataset` of float32 images in ``[0, 1]`` shaped
``(N, H, W, 1)`` and int32 labels. IDX files, gzipped or not, are parsed by
:func:`read_idx`.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

DATASETS = ("digits", "fashion_mnist", "mnist")

# Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_INSTALL = "sudo apt-get install dataset-fashion-mnist"

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))

# The four IDX files of an MNIST-format directory, each optionally ``.gz``.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

_GZIP_MAGIC = b"\x1f\x8b"
# IDX type code -> on-disk dtype (multi-byte types are big-endian).
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not where they were looked for."""


class MalformedDatasetError(ValueError):
    """A data set's files are there but hold no valid data set (the message names them)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of images and integer labels.

    Attributes:
      name: the data set's name, one of :data:`DATASETS`.
      x_train: float32 images in ``[0, 1]``, shape ``(N_train, H, W, 1)``.
      y_train: int32 labels in ``[0, num_classes)``, shape ``(N_train,)``.
      x_test: float32 images in ``[0, 1]``, shape ``(N_test, H, W, 1)``.
      y_test: int32 labels in ``[0, num_classes)``, shape ``(N_test,)``.
      num_classes: the number of classes.
      class_names: one human-readable name per class.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example, e.g. ``(28, 28, 1)``."""
        return tuple(self.x_train.shape[1:])


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (the MNIST format), gzipped or not.

    Gzip is detected by the file's magic bytes, whatever its name. The header
    is ``0x00 0x00 <dtype code> <ndim>`` followed by ``ndim`` big-endian uint32
    dimensions; the data follows in row-major order.

    Args:
      path: the file to read.

    Returns:
      A native-endian array of the header's shape and dtype (uint8, int8,
      int16, int32, float32 or float64).

    Raises:
      MalformedDatasetError: (a ``ValueError``) the file is not valid gzip,
        has a bad magic number or an unknown dtype code, is truncated, or has
        bytes after its data; the message names the file.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise MalformedDatasetError(
                f"IDX file {path!s}: corrupt or truncated gzip data ({e})."
            ) from e
    if len(raw) < 4:
        raise MalformedDatasetError(
            f"IDX file {path!s}: truncated header: {len(raw)} bytes, need at least 4."
        )
    if raw[0] != 0 or raw[1] != 0:
        raise MalformedDatasetError(
            f"IDX file {path!s}: bad magic number 0x{raw[:4].hex()}; an IDX file starts "
            "with two zero bytes, a dtype code and the number of dimensions."
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise MalformedDatasetError(
            f"IDX file {path!s}: unknown dtype code 0x{code:02X} (known: {known})."
        )
    dtype = _IDX_DTYPES[code]
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise MalformedDatasetError(
            f"IDX file {path!s}: truncated header: {ndim} dimensions need {header_len} "
            f"bytes, the file has {len(raw)}."
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    count = math.prod(shape)
    expected = header_len + count * dtype.itemsize
    if len(raw) < expected:
        raise MalformedDatasetError(
            f"IDX file {path!s}: truncated data: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, the file has {len(raw)}."
        )
    if len(raw) > expected:
        raise MalformedDatasetError(
            f"IDX file {path!s}: trailing garbage: {len(raw) - expected} bytes after the "
            f"data of shape {shape}."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header_len)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def load(
    name: str, data_dir: str | os.PathLike | None = None, *, limit: int | None = None, seed: int = 0
) -> Dataset:
    """Loads a data set by name.

    Args:
      name: one of :data:`DATASETS`.
      data_dir: for ``fashion_mnist`` and ``mnist``, a directory holding the
        four :data:`IDX_FILES` (each optionally ``.gz``). Without it,
        ``fashion_mnist`` is read from :data:`FASHION_MNIST_DIR` and ``mnist``
        comes from ``keras.datasets.mnist.load_data()``. Ignored by ``digits``.
      limit: if given, keep only ``limit`` training examples and
        ``max(1, limit // 5)`` test examples, the first ones after a
        permutation drawn with ``seed`` (fewer where a split is smaller); for
        quick runs.
      seed: seed of that permutation.

    Returns:
      The :class:`Dataset`.

    Raises:
      ValueError: unknown ``name`` or ``limit`` below 1.
      MalformedDatasetError: (a ``ValueError``) files that are not IDX, or
        whose images and labels do not match (lengths, shapes or label range).
      DatasetNotFoundError: (a ``FileNotFoundError``) the data set's files are
        missing; the message says where they were looked for and how to get
        them.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; known: {', '.join(DATASETS)}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}.")
    if name == "digits":
        dataset = _load_digits()
    elif name == "fashion_mnist":
        directory = FASHION_MNIST_DIR if data_dir is None else Path(data_dir)
        dataset = _load_idx_dir(
            name, directory, FASHION_MNIST_CLASSES, install_command=FASHION_MNIST_INSTALL
        )
    elif data_dir is not None:
        dataset = _load_idx_dir(name, Path(data_dir), DIGIT_CLASSES, install_command=None)
    else:
        dataset = _load_keras_mnist()
    return dataset if limit is None else _subset(dataset, limit, seed)


def _load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (0..16 scaled to [0, 1]), split 80/20 stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, stratify=digits.target, random_state=0
    )
    return _make_dataset(
        "digits",
        (x_train, y_train, x_test, y_test),
        DIGIT_CLASSES,
        source="sklearn.datasets.load_digits()",
    )


def _data_dir_hint() -> str:
    """How to point a loader at a directory of IDX files."""
    files = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES)
    return f"pass --data_dir DIR with a directory holding the four IDX files {files}"


def load_or_exit(
    name: str, data_dir: str | os.PathLike | None = None, *, limit: int | None = None, seed: int = 0
) -> Dataset:
    """:func:`load` for a command-line app, before it starts any work: a data
    set that cannot be loaded (missing, not downloadable, malformed files) ends
    the app with one line, ``error: ...`` (what, where, how to get it) and exit
    status 1, not a traceback hours into a run. Wrong arguments (an unknown
    ``name``, ``limit`` below 1) are the caller's bug and still raise."""
    try:
        return load(name, data_dir, limit=limit, seed=seed)
    except DatasetNotFoundError as error:
        message = str(error)
    except MalformedDatasetError as error:
        message = (
            f"--dataset {name}"
            + (f" --data_dir {data_dir}" if data_dir is not None else "")
            + f": {error} Give a directory of MNIST-format IDX files (plain or .gz)."
        )
    raise SystemExit(f"error: {' '.join(message.split())}")


def _find_idx_files(name: str, directory: Path, install_command: str | None) -> list[Path]:
    """The paths of the four IDX files in ``directory``, plain or ``.gz``."""
    found, missing = [], []
    for stem in IDX_FILES:
        candidates = (directory / stem, directory / f"{stem}.gz")
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            missing.append(f"{stem}[.gz]")
        else:
            found.append(path)
    if missing:
        problem = f"lacks {', '.join(missing)}" if directory.is_dir() else "does not exist"
        remedy = (
            f"Install it with `{install_command}`, or {_data_dir_hint()}"
            if install_command
            else f"To load it, {_data_dir_hint()}"
        )
        raise DatasetNotFoundError(
            f"Data set {name!r} not found: the directory {directory} {problem}. {remedy}."
        )
    return found


def _load_idx_dir(
    name: str, directory: Path, class_names: tuple[str, ...], install_command: str | None
) -> Dataset:
    """Reads the four MNIST-format IDX files of ``directory`` into a Dataset."""
    paths = _find_idx_files(name, directory, install_command)
    arrays = tuple(read_idx(p) for p in paths)
    return _make_dataset(name, arrays, class_names, source=str(directory))


def _load_keras_mnist() -> Dataset:
    """MNIST through ``keras.datasets.mnist.load_data()`` (downloads if not cached)."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as e:  # keras raises bare Exception on a failed download.
        raise DatasetNotFoundError(
            "Data set 'mnist' not found: keras.datasets.mnist.load_data() failed to load "
            f"it from Keras's dataset cache (usually ~/.keras/datasets) ({e}); it needs "
            f"network access to download it. Without network, {_data_dir_hint()}."
        ) from e
    return _make_dataset(
        "mnist",
        (x_train, y_train, x_test, y_test),
        DIGIT_CLASSES,
        source="keras.datasets.mnist.load_data()",
    )


def _make_dataset(
    name: str, arrays: tuple[np.ndarray, ...], class_names: tuple[str, ...], source: str
) -> Dataset:
    """Validates raw ``(x_train, y_train, x_test, y_test)`` and builds a Dataset.

    Args:
      name: the data set's name.
      arrays: images ``(N, H, W)``, uint8 in ``[0, 255]`` or float in ``[0, 1]``,
        and integer labels ``(N,)``, for train then test.
      class_names: one name per class.
      source: where the arrays came from, for error messages.

    Returns:
      The Dataset, images scaled to float32 ``[0, 1]`` with a channel axis.
    """
    num_classes = len(class_names)
    x_train, y_train, x_test, y_test = arrays
    splits = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or y.ndim != 1:
            raise MalformedDatasetError(
                f"{name} ({source}): {split} images must be (N, H, W) and labels (N,); got "
                f"{x.shape} and {y.shape}."
            )
        if len(x) != len(y):
            raise MalformedDatasetError(
                f"{name} ({source}): {len(x)} {split} images but {len(y)} {split} labels."
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise MalformedDatasetError(
                f"{name} ({source}): {split} labels must be integers, got {y.dtype}."
            )
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise MalformedDatasetError(
                f"{name} ({source}): {split} labels must be in [0, {num_classes}); got "
                f"[{y.min()}, {y.max()}]."
            )
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / np.float32(255.0)
        elif not np.issubdtype(x.dtype, np.floating):
            raise MalformedDatasetError(
                f"{name} ({source}): {split} images must be uint8 or float, got {x.dtype}."
            )
        elif x.size and (x.min() < 0 or x.max() > 1):
            raise MalformedDatasetError(
                f"{name} ({source}): float {split} images must be in [0, 1]; got "
                f"[{x.min()}, {x.max()}]."
            )
        splits[split] = (x.astype(np.float32)[..., np.newaxis], y.astype(np.int32))
    if splits["train"][0].shape[1:] != splits["test"][0].shape[1:]:
        raise MalformedDatasetError(
            f"{name} ({source}): train images {x_train.shape[1:]} and test images "
            f"{x_test.shape[1:]} differ in size."
        )
    return Dataset(name, *splits["train"], *splits["test"], num_classes, class_names)


def _subset(dataset: Dataset, limit: int, seed: int) -> Dataset:
    """``limit`` training and ``max(1, limit // 5)`` test examples, seeded."""
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(dataset.x_train))[:limit]
    test = rng.permutation(len(dataset.x_test))[: max(1, limit // 5)]
    return dataclasses.replace(
        dataset,
        x_train=dataset.x_train[train],
        y_train=dataset.y_train[train],
        x_test=dataset.x_test[test],
        y_test=dataset.y_test[test],
    )


def validation_indices(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, validation)``: indices into a training split of ``n`` examples.

    The validation part is the last ``round(fraction * n)`` positions (at
    least one, and at least one left to fit on) of a permutation drawn with
    ``seed``; the rest is what a model is fitted on. Both are sorted and
    disjoint. Carved from the training split only: the test split is never
    looked at (the HashedNets paper tuned on 20% of the training set).

    Raises:
      ValueError: ``fraction`` not in (0, 1), or ``n`` below 2.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"the validation fraction must be in (0, 1), got {fraction}.")
    if n < 2:
        raise ValueError(f"cannot carve a validation split from {n} training example(s).")
    held = min(n - 1, max(1, round(fraction * n)))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n - held]), np.sort(order[n - held :])


def without_test(dataset: Dataset) -> Dataset:
    """``dataset`` with an empty test split: what tuning sees, so that it cannot
    touch the test split."""
    return dataclasses.replace(dataset, x_test=dataset.x_test[:0], y_test=dataset.y_test[:0])
