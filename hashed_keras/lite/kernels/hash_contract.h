// The hash contract, version 1 (docs/hash_contract.md): the one definition of
// xxh32, bucket and sign that every kernel in this library uses. Bit-identical
// to hashed_keras/hashing.py (tests/test_kernels.py checks it).
#ifndef HASHED_KERAS_LITE_KERNELS_HASH_CONTRACT_H_
#define HASHED_KERAS_LITE_KERNELS_HASH_CONTRACT_H_

#include <stdint.h>

namespace hk {

constexpr int kContractVersion = 1;

// The largest virtual tensor whose keys fit the contract's uint32 key space.
constexpr uint64_t kMaxVirtualSize = uint64_t{1} << 32;

constexpr uint32_t kPrime32_2 = 0x85EBCA77u;
constexpr uint32_t kPrime32_3 = 0xC2B2AE3Du;
constexpr uint32_t kPrime32_4 = 0x27D4EB2Fu;
constexpr uint32_t kPrime32_5 = 0x165667B1u;

// xxHash32 of the 4 little-endian bytes of `key`, with `seed`.
inline uint32_t Xxh32(uint32_t key, uint32_t seed) {
  uint32_t h = seed + kPrime32_5 + 4u;
  h += key * kPrime32_3;
  h = ((h << 17) | (h >> 15)) * kPrime32_4;
  h ^= h >> 15;
  h *= kPrime32_2;
  h ^= h >> 13;
  h *= kPrime32_3;
  h ^= h >> 16;
  return h;
}

// The two seeds a layer seed derives: bucket (`h`) and sign (`s`).
struct DerivedSeeds {
  uint32_t bucket;
  uint32_t sign;
};

inline DerivedSeeds DeriveSeeds(uint32_t layer_seed) {
  return DerivedSeeds{Xxh32(0u, layer_seed), Xxh32(1u, layer_seed)};
}

// bucket(key) = xxh32(key, seed_h) mod K, for 1 <= K <= 2^32.
inline uint64_t BucketOf(uint32_t hash, uint64_t num_buckets) {
  return num_buckets > 0xFFFFFFFFu
             ? uint64_t{hash}
             : uint64_t{hash % static_cast<uint32_t>(num_buckets)};
}

// sign(key) is -1 iff the top bit of xxh32(key, seed_s) is set.
inline bool SignIsNegative(uint32_t key, uint32_t sign_seed) {
  return (Xxh32(key, sign_seed) & 0x80000000u) != 0;
}

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_HASH_CONTRACT_H_
