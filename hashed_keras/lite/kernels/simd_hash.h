// Vectorised hash contract: xxh32 of many keys at once, and the HashedNets
// gather (bucket, sign, scale) built on it. Every path computes exactly what
// the scalar definitions of hash_contract.h compute (tests/kernel_test_driver.cc
// compares them bit for bit); only the speed differs.
//
// Paths: scalar (always), sse41 and avx2 (x86-64, chosen at run time with
// __builtin_cpu_supports, so the library runs on any x86-64), neon (aarch64,
// where it is always present; 32-bit ARM uses the scalar path: its NEON
// flushes denormals to zero). The active path is the best one the CPU has,
// unless the environment variable HK_SIMD (scalar, sse41, avx2, neon or auto),
// read once, names another; hk_simd_select changes it later.
#ifndef HASHED_KERAS_LITE_KERNELS_SIMD_HASH_H_
#define HASHED_KERAS_LITE_KERNELS_SIMD_HASH_H_

#include <stddef.h>
#include <stdint.h>

#include "hk_kernels.h"  // HK_API

namespace hk {

enum class SimdPath : int { kScalar = 0, kSse41 = 1, kAvx2 = 2, kNeon = 3 };
constexpr int kNumSimdPaths = 4;

const char* SimdPathName(SimdPath path);
// Compiled in and supported by this CPU.
bool SimdPathSupported(SimdPath path);
// The best supported path.
SimdPath BestSimdPath();
// The path the operators use (see HK_SIMD above).
SimdPath ActiveSimdPath();

// out[i] = xxh32(first + i * stride, seed) for i < n (keys modulo 2^32).
void Xxh32Keys(SimdPath path, uint32_t first, uint32_t stride, size_t n,
               uint32_t seed, uint32_t* out);

// out[i] = xxh32(first + i * stride, seed) mod num_buckets (1 <= K <= 2^32;
// K = 0: the hash itself, as Xxh32Keys).
void BucketKeys(SimdPath path, uint32_t first, uint32_t stride, size_t n,
                uint32_t seed, uint64_t num_buckets, uint32_t* out);

// One gather: for i < n, with key = first + i * stride (< 2^32),
//   v = buckets[offset + xxh32(key, seed_h) mod num_buckets]
//   v = -v             if use_sign and xxh32(key, seed_s) >= 2^31
//   out[i] = v * scale if has_scale, else v.
struct HashGather {
  const float* buckets = nullptr;
  uint64_t num_buckets = 1;  // 1 <= K <= 2^32
  uint64_t offset = 0;
  uint32_t seed_h = 0;
  uint32_t seed_s = 0;
  bool use_sign = true;
  bool has_scale = false;
  float scale = 1.0f;
};
void GatherHashed(SimdPath path, const HashGather& g, uint32_t first,
                  uint32_t stride, size_t n, float* out);

}  // namespace hk

extern "C" {
// For benchmarks (benchmarks/rebuild_rate.py): the name of the active path.
HK_API const char* hk_simd_path(void);
// Makes `name` (scalar, sse41, avx2, neon, auto) the active path. Returns 0,
// or -1 if the name is unknown or this CPU lacks the path (nothing changes).
HK_API int hk_simd_select(const char* name);
// out[i] = xxh32(first + i * stride, seed), i < n, with the active path.
HK_API void hk_simd_xxh32_keys(uint32_t first, uint32_t stride, size_t n,
                               uint32_t seed, uint32_t* out);
}

#endif  // HASHED_KERAS_LITE_KERNELS_SIMD_HASH_H_
