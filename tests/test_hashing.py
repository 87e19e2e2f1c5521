"""Tests of hashed_keras.hashing: the hash contract (numpy and TensorFlow twins)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import xxhash

from hashed_keras import hashing

U32_MAX = 2**32 - 1


def ref_xxh32(keys, seed):
    """The reference: the xxhash package on each key's 4 little-endian bytes."""
    return np.array(
        [
            xxhash.xxh32_intdigest(int(k).to_bytes(4, "little"), seed)
            for k in np.asarray(keys).reshape(-1)
        ],
        np.uint32,
    )


def ref_bucket_and_sign(size, buckets, seed):
    """Contract v1 spelled out with the xxhash package (no hashed_keras code)."""
    seed_h = xxhash.xxh32_intdigest((0).to_bytes(4, "little"), seed)
    seed_s = xxhash.xxh32_intdigest((1).to_bytes(4, "little"), seed)
    index = ref_xxh32(range(size), seed_h) % buckets
    sign = np.where(ref_xxh32(range(size), seed_s) >= 2**31, -1.0, 1.0)
    return index, sign


# ---------------------------------------------------------------- xxh32 itself


def test_xxh32_matches_xxhash_package_on_random_keys():
    rng = np.random.default_rng(1234)
    seeds = [0, U32_MAX] + [int(s) for s in rng.integers(1, U32_MAX, 3, dtype=np.uint64)]
    keys = rng.integers(0, 2**32, 100_000, dtype=np.uint64).astype(np.uint32)
    keys[:2] = [0, U32_MAX]
    chunks = np.array_split(keys, len(seeds))  # 10^5 keys spread over the seeds
    for seed, chunk in zip(seeds, chunks):
        chunk = np.concatenate([[0, U32_MAX], chunk]).astype(np.uint32)
        got = hashing.xxh32(chunk, seed)
        assert got.dtype == np.uint32
        np.testing.assert_array_equal(got, ref_xxh32(chunk, seed), err_msg=f"seed={seed}")


# (key, seed, xxHash32 of the key's 4 little-endian bytes), computed once with the
# xxhash package; they pin contract v1 independently of any implementation.
KNOWN_VECTORS = [
    (0, 0, 0x08D6D969),
    (1, 0, 0xF3BB7693),
    (U32_MAX, 0, 0x04079E5F),
    (0, 1, 0x77F498C8),
    (0, U32_MAX, 0xB2D9F3FD),
    (U32_MAX, U32_MAX, 0x20E3FB57),
    (123456789, U32_MAX, 0xD5C5952C),
]


@pytest.mark.parametrize("key,seed,expected", KNOWN_VECTORS)
def test_xxh32_known_vectors(key, seed, expected):
    assert int(hashing.xxh32(np.array([key], np.uint32), seed)[0]) == expected
    # Also from a plain Python list of ints (a non-uint32 input dtype).
    assert int(hashing.xxh32([key], seed)[0]) == expected
    assert xxhash.xxh32_intdigest(key.to_bytes(4, "little"), seed) == expected


def test_xxh32_key_edge_cases_in_one_array():
    got = hashing.xxh32(np.array([0, U32_MAX, 0], np.uint32), 7)
    np.testing.assert_array_equal(got, ref_xxh32([0, U32_MAX, 0], 7))
    assert got[0] == got[2] and got[0] != got[1]


def test_xxh32_preserves_shape():
    keys = np.arange(24, dtype=np.uint32).reshape(4, 6)
    got = hashing.xxh32(keys, 99)
    assert got.shape == (4, 6) and got.dtype == np.uint32
    np.testing.assert_array_equal(got.reshape(-1), hashing.xxh32(keys.reshape(-1), 99))
    np.testing.assert_array_equal(got.reshape(-1), ref_xxh32(keys, 99))
    assert hashing.xxh32(np.zeros((0, 3), np.uint32), 1).shape == (0, 3)


@pytest.mark.parametrize("keys", [[-1], [2**32], [3, 2**40]])
def test_xxh32_rejects_keys_outside_uint32(keys):
    with pytest.raises(ValueError, match="keys"):
        hashing.xxh32(np.array(keys, np.int64), 0)


@pytest.mark.parametrize("seed", [-1, 2**32, 2**40])
def test_xxh32_rejects_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        hashing.xxh32(np.array([1], np.uint32), seed)


# -------------------------------------------------------- TensorFlow twin


def _random_keys(n=20_000, seed=5):
    keys = np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    keys[:3] = [0, U32_MAX, 2**31]
    return keys


@pytest.mark.parametrize("mode", ["eager", "function", "jit"])
@pytest.mark.parametrize("seed", [0, 31337, U32_MAX])
def test_tf_xxh32_is_bit_identical(mode, seed):
    keys = _random_keys()
    fn = lambda k: hashing.tf_xxh32(k, seed)  # noqa: E731
    if mode == "function":
        fn = tf.function(fn)
    elif mode == "jit":
        fn = tf.function(fn, jit_compile=True)
    got = fn(tf.constant(keys))
    assert got.dtype == tf.uint32
    np.testing.assert_array_equal(got.numpy(), hashing.xxh32(keys, seed))


def test_tf_xxh32_casts_other_key_dtypes_and_keeps_shape():
    keys = np.arange(12, dtype=np.int64).reshape(3, 4)
    got = hashing.tf_xxh32(tf.constant(keys), 3)
    assert got.shape == (3, 4) and got.dtype == tf.uint32
    np.testing.assert_array_equal(got.numpy(), hashing.xxh32(keys, 3))


@pytest.mark.parametrize("mode", ["eager", "function", "jit"])
@pytest.mark.parametrize(
    "size,buckets,seed,use_sign",
    [(3000, 97, 0, True), (500, 500, U32_MAX, True), (777, 1, 11, True), (1024, 33, 5, False)],
)
def test_tf_bucket_and_sign_is_bit_identical(mode, size, buckets, seed, use_sign):
    fn = lambda: hashing.tf_bucket_and_sign(size, buckets, seed, use_sign=use_sign)  # noqa: E731
    if mode == "function":
        fn = tf.function(fn)
    elif mode == "jit":
        fn = tf.function(fn, jit_compile=True)
    index, sign = fn()
    assert index.dtype == tf.int32 and sign.dtype == tf.float32
    ref_index, ref_sign = hashing.bucket_and_sign(size, buckets, seed, use_sign=use_sign)
    np.testing.assert_array_equal(index.numpy(), ref_index)
    np.testing.assert_array_equal(sign.numpy(), ref_sign)


def test_tf_bucket_and_sign_errors():
    with pytest.raises(ValueError, match="buckets"):
        hashing.tf_bucket_and_sign(10, 11, 0)
    with pytest.raises(ValueError, match="buckets"):
        hashing.tf_bucket_and_sign(10, 0, 0)
    with pytest.raises(ValueError, match="seed"):
        hashing.tf_bucket_and_sign(10, 2, -1)


# ------------------------------------------------------ bucket_and_sign


def test_bucket_and_sign_matches_contract_spelled_with_xxhash():
    index, sign = hashing.bucket_and_sign(2000, 37, 2024)
    ref_index, ref_sign = ref_bucket_and_sign(2000, 37, 2024)
    np.testing.assert_array_equal(index, ref_index)
    np.testing.assert_array_equal(sign, ref_sign)


def test_bucket_and_sign_known_vector():
    # Computed once from the contract (xxhash package); pins contract v1.
    index, sign = hashing.bucket_and_sign(12, 5, 42)
    assert index.tolist() == [4, 0, 2, 4, 2, 1, 0, 3, 4, 1, 2, 2]
    assert sign.tolist() == [1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1, 1]
    assert hashing.derived_seeds(0) == (0x08D6D969, 0xF3BB7693)  # xxh32(0, 0), xxh32(1, 0)


def test_bucket_and_sign_ranges_and_dtypes():
    index, sign = hashing.bucket_and_sign(10_000, 123, 7)
    assert index.shape == (10_000,) and sign.shape == (10_000,)
    assert index.dtype == np.int32 and sign.dtype == np.float32
    assert index.min() >= 0 and index.max() < 123
    assert set(np.unique(sign).tolist()) == {-1.0, 1.0}


def test_bucket_and_sign_is_roughly_balanced():
    size, k = 100_000, 100
    index, sign = hashing.bucket_and_sign(size, k, 987654321)
    # Fraction of +1 signs: std is 0.0016, allow ~6 sigma.
    assert abs(np.mean(sign > 0) - 0.5) < 0.01
    counts = np.bincount(index, minlength=k)
    assert counts.min() > 0
    # Each bucket expects 1000 (std ~31); allow ~6 sigma, plus a loose chi-square.
    assert counts.min() > 800 and counts.max() < 1200
    chi2 = np.sum((counts - size / k) ** 2 / (size / k))
    assert chi2 < 2 * k  # dof = 99; a broken hash gives thousands


def test_bucket_and_sign_special_cases():
    index, sign = hashing.bucket_and_sign(50, 1, 3)
    assert np.all(index == 0)
    index, sign = hashing.bucket_and_sign(50, 50, 3, use_sign=False)
    assert np.all(sign == 1.0) and sign.dtype == np.float32
    # use_sign does not change the buckets.
    np.testing.assert_array_equal(index, hashing.bucket_and_sign(50, 50, 3)[0])


def test_bucket_and_sign_offset_hashes_in_chunks():
    full_index, full_sign = hashing.bucket_and_sign(1000, 17, 9)
    parts = [hashing.bucket_and_sign(n, 17, 9, offset=o) for o, n in [(0, 300), (300, 700)]]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), full_index)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), full_sign)


def test_different_seeds_give_different_patterns():
    k = 100
    i1, s1 = hashing.bucket_and_sign(20_000, k, 1)
    i2, s2 = hashing.bucket_and_sign(20_000, k, 2)
    i1b, s1b = hashing.bucket_and_sign(20_000, k, 1)
    np.testing.assert_array_equal(i1, i1b)  # deterministic
    np.testing.assert_array_equal(s1, s1b)
    assert np.mean(i1 == i2) < 0.05  # independent patterns agree ~1/K of the time
    assert 0.4 < np.mean(s1 == s2) < 0.6


def test_derived_seeds_differ():
    seeds = list(range(1000)) + [U32_MAX, 2**31]
    pairs = [hashing.derived_seeds(s) for s in seeds]
    assert all(h != s for h, s in pairs)
    assert all(0 <= v < 2**32 and isinstance(v, int) for pair in pairs for v in pair)
    # Different layer seeds give different derived seeds.
    assert len({h for h, _ in pairs}) == len(seeds)
    assert len({s for _, s in pairs}) == len(seeds)


@pytest.mark.parametrize(
    "size,buckets,seed,match",
    [
        (10, 11, 0, "buckets"),  # more buckets than virtual weights
        (10, 0, 0, "buckets"),  # no bucket
        (10, -3, 0, "buckets"),
        (0, 1, 0, "weights"),  # empty virtual tensor
        (10, 2, -1, "seed"),
        (10, 2, 2**32, "seed"),
    ],
)
def test_bucket_and_sign_errors(size, buckets, seed, match):
    with pytest.raises(ValueError, match=match):
        hashing.bucket_and_sign(size, buckets, seed)


def test_derived_seeds_rejects_bad_seed():
    for seed in (-1, 2**32):
        with pytest.raises(ValueError, match="seed"):
            hashing.derived_seeds(seed)
