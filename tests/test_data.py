"""Tests of hk_experiments.data: the IDX reader and the data set loaders (no network)."""

from __future__ import annotations

import gzip
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hk_experiments import data

# dtype -> IDX type code, as the format defines it.
IDX_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encodes ``array`` as an IDX file (header plus big-endian data).

    Args:
      array: an array of one of the dtypes in ``IDX_CODES``.

    Returns:
      The file's bytes.
    """
    code = IDX_CODES[array.dtype]
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """Writes ``array`` to ``path`` as an IDX file, gzipped if ``gz``.

    Args:
      path: the file to write.
      array: the array to store.
      gz: whether to gzip the file's bytes.

    Returns:
      ``path``.
    """
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist_dir(
    directory: Path,
    *,
    n_train: int = 20,
    n_test: int = 10,
    size: tuple[int, int] = (5, 6),
    train_labels: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Writes four small synthetic MNIST-format IDX files (mixing plain and gzip).

    Args:
      directory: where to write them (created if missing).
      n_train: number of training examples.
      n_test: number of test examples.
      size: image height and width.
      train_labels: overrides the training labels (may be of another length).
      seed: seed of the random content.

    Returns:
      The arrays written, by IDX file stem.
    """
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *size), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8)
        if train_labels is None
        else train_labels,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 255  # So the maximum is known.
    for i, (stem, array) in enumerate(arrays.items()):
        gz = i % 2 == 0
        write_idx(directory / (f"{stem}.gz" if gz else stem), array, gz=gz)
    return arrays


# --- read_idx -------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_read_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
    if dtype.kind == "f":
        array = array * dtype.type(0.5)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array, gz=gz)
    got = data.read_idx(path)
    assert got.dtype == dtype and got.dtype.isnative
    assert got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, array)


def test_read_idx_detects_gzip_by_magic_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    gz_unnamed = write_idx(tmp_path / "labels-idx1-ubyte", array, gz=True)
    plain_named_gz = write_idx(tmp_path / "labels-idx1-ubyte.gz", array, gz=False)
    np.testing.assert_array_equal(data.read_idx(gz_unnamed), array)
    np.testing.assert_array_equal(data.read_idx(str(plain_named_gz)), array)


def test_read_idx_one_dimension_and_empty(tmp_path):
    np.testing.assert_array_equal(
        data.read_idx(write_idx(tmp_path / "one", np.array([3, 1, 4], np.int32))), [3, 1, 4]
    )
    assert data.read_idx(write_idx(tmp_path / "empty", np.zeros((0, 28, 28), np.uint8))).shape == (
        0,
        28,
        28,
    )


def _assert_idx_error(path: Path, *fragments: str) -> None:
    with pytest.raises(data.MalformedDatasetError) as info:
        data.read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_bad_magic(tmp_path, gz):
    raw = b"\x01\x00" + idx_bytes(np.zeros(4, np.uint8))[2:]
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    _assert_idx_error(path, "bad magic")


def test_read_idx_unknown_dtype(tmp_path):
    raw = bytearray(idx_bytes(np.zeros(4, np.uint8)))
    raw[2] = 0x0A
    path = tmp_path / "bad"
    path.write_bytes(bytes(raw))
    _assert_idx_error(path, "unknown dtype", "0x0A")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_data(tmp_path, gz):
    raw = idx_bytes(np.zeros((3, 4), np.int16))[:-1]
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    _assert_idx_error(path, "truncated data")


@pytest.mark.parametrize("cut", [2, 9])
def test_read_idx_truncated_header(tmp_path, cut):
    path = tmp_path / "short"
    path.write_bytes(idx_bytes(np.zeros((3, 4), np.uint8))[:cut])
    _assert_idx_error(path, "truncated header")


def test_read_idx_truncated_gzip_stream(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))[:-10])
    _assert_idx_error(path, "gzip")


def test_read_idx_trailing_garbage(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"junk")
    _assert_idx_error(path, "trailing garbage", "4 bytes")


# --- load: argument checks ------------------------------------------------------------


def test_load_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as info:
        data.load("cifar10")
    for name in data.DATASETS:
        assert name in str(info.value)


def test_load_rejects_nonpositive_limit():
    with pytest.raises(ValueError, match="limit"):
        data.load("digits", limit=0)


def test_load_or_exit_subsets_and_raises_argument_errors_as_they_are(tmp_path):
    # A command loads its data once, with its --limit and --seed: the subset is
    # the one data.load gives. A wrong argument is the caller's bug, not the
    # user's data, so it is not dressed up as a one-line data-set error.
    write_mnist_dir(tmp_path)
    subset = data.load_or_exit("mnist", tmp_path, limit=5, seed=3)
    np.testing.assert_array_equal(
        subset.y_train, data.load("mnist", tmp_path, limit=5, seed=3).y_train
    )
    assert len(subset.x_train) == 5
    with pytest.raises(ValueError, match="limit") as info:
        data.load_or_exit("mnist", tmp_path, limit=0)
    assert not isinstance(info.value, data.MalformedDatasetError)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(SystemExit, match="error: --dataset mnist .*t10k-labels-idx1-ubyte"):
        data.load_or_exit("mnist", tmp_path, limit=5)


# --- digits ---------------------------------------------------------------------------


def test_digits_shapes_ranges_and_split():
    ds = data.load("digits")
    assert ds.name == "digits"
    assert ds.x_train.shape == (1437, 8, 8, 1) and ds.x_test.shape == (360, 8, 8, 1)
    assert ds.y_train.shape == (1437,) and ds.y_test.shape == (360,)
    assert ds.input_shape == (8, 8, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    # Stratified: every class is in the test split in about its overall share.
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


def test_digits_is_deterministic():
    a, b = data.load("digits"), data.load("digits")
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_digits_limit_is_seeded_subset():
    full = data.load("digits")
    a = data.load("digits", limit=50, seed=1)
    assert len(a.x_train) == 50 and len(a.y_train) == 50
    assert len(a.x_test) == 10 and len(a.y_test) == 10
    np.testing.assert_array_equal(a.x_train, data.load("digits", limit=50, seed=1).x_train)
    assert not np.array_equal(a.y_train, data.load("digits", limit=50, seed=2).y_train)
    # Every kept example is one of the full split's.
    flat = {row.tobytes() for row in full.x_train}
    assert all(row.tobytes() in flat for row in a.x_train)
    assert len(data.load("digits", limit=3).x_test) == 1


def test_dataset_is_frozen():
    ds = data.load("digits", limit=5)
    with pytest.raises(AttributeError):
        ds.name = "other"


# --- fashion_mnist and mnist from IDX directories -------------------------------------


def test_fashion_mnist_from_data_dir(tmp_path):
    arrays = write_mnist_dir(tmp_path)
    ds = data.load("fashion_mnist", tmp_path)
    assert ds.name == "fashion_mnist"
    assert ds.x_train.shape == (20, 5, 6, 1) and ds.x_test.shape == (10, 5, 6, 1)
    assert ds.input_shape == (5, 6, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int32
    np.testing.assert_allclose(
        ds.x_train[..., 0], arrays["train-images-idx3-ubyte"] / 255.0, rtol=1e-6
    )
    assert ds.x_train.max() == 1.0 and ds.x_train.min() >= 0.0
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.num_classes == 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


def test_fashion_mnist_limit(tmp_path):
    write_mnist_dir(tmp_path)
    ds = data.load("fashion_mnist", str(tmp_path), limit=7, seed=3)
    assert len(ds.x_train) == 7 and len(ds.x_test) == 1


def test_mnist_from_data_dir(tmp_path):
    write_mnist_dir(tmp_path)
    ds = data.load("mnist", tmp_path)
    assert ds.name == "mnist" and ds.class_names == tuple("0123456789")
    assert ds.x_test.shape == (10, 5, 6, 1)


def test_mismatched_lengths(tmp_path):
    write_mnist_dir(tmp_path, train_labels=np.zeros(19, np.uint8))
    with pytest.raises(data.MalformedDatasetError, match="20 train images but 19 train labels"):
        data.load("fashion_mnist", tmp_path)


def test_labels_out_of_range(tmp_path):
    write_mnist_dir(tmp_path, train_labels=np.full(20, 10, np.uint8))
    with pytest.raises(data.MalformedDatasetError, match=r"labels must be in \[0, 10\)"):
        data.load("fashion_mnist", tmp_path)


def test_corrupt_file_in_data_dir_names_it(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(data.MalformedDatasetError, match="t10k-labels-idx1-ubyte"):
        data.load("mnist", tmp_path)


# --- missing data sets ----------------------------------------------------------------


def test_missing_fashion_mnist_dir_says_how_to_install(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        data.load("fashion_mnist", missing)
    message = str(info.value)
    assert str(missing) in message and "does not exist" in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "--data_dir DIR" in message
    for stem in data.IDX_FILES:
        assert stem in message


def test_missing_default_fashion_mnist_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("fashion_mnist")
    assert str(tmp_path / "absent") in str(info.value)
    assert "sudo apt-get install dataset-fashion-mnist" in str(info.value)


def test_incomplete_data_dir_names_missing_file(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError) as info:
        data.load("mnist", tmp_path)
    message = str(info.value)
    assert "lacks t10k-images-idx3-ubyte[.gz]" in message
    assert "--data_dir DIR" in message and "apt-get" not in message
    for stem in data.IDX_FILES:
        assert stem in message


def test_mnist_without_network_says_to_use_data_dir(monkeypatch):
    def load_data():
        raise Exception("URL fetch failure: network is unreachable")

    # A stand-in for keras whose download fails, so no network is ever tried.
    fake_keras = types.SimpleNamespace(
        datasets=types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data))
    )
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    with pytest.raises(FileNotFoundError) as info:
        data.load("mnist")
    message = str(info.value)
    assert "network" in message and "--data_dir DIR" in message
    assert "~/.keras/datasets" in message and "URL fetch failure" in message
    for stem in data.IDX_FILES:
        assert stem in message


# --- the real Fashion-MNIST, when Debian's package is installed -----------------------


def test_real_fashion_mnist():
    if not data.FASHION_MNIST_DIR.is_dir():
        pytest.skip(
            f"{data.FASHION_MNIST_DIR} is absent; "
            "install it with `sudo apt-get install dataset-fashion-mnist`."
        )
    ds = data.load("fashion_mnist")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.input_shape == (28, 28, 1)
    assert ds.num_classes == 10 and len(ds.class_names) == 10
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(ds.y_test), np.full(10, 1000))
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
