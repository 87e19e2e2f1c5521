#include "simd_hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <initializer_list>

#include "hash_contract.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HK_SIMD_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#define HK_SIMD_NEON 1
#include <arm_neon.h>
#endif

namespace hk {
namespace {

#if HK_SIMD_X86 || HK_SIMD_NEON
// Division by an invariant 32-bit d (Granlund & Montgomery 1994, fig. 4.1):
// q = (t + ((x - t) >> sh1)) >> sh2 with t = mulhi(m, x), exact for every
// 32-bit x and 1 <= d < 2^32. The vector paths take x mod d as x - q * d.
struct Divisor {
  uint32_t d = 1, m = 1;
  int sh1 = 0, sh2 = 0;
};

Divisor MakeDivisor(uint32_t d) {
  int l = 0;  // ceil(log2(d))
  while ((uint64_t{1} << l) < d) ++l;
  Divisor div;
  div.d = d;
  div.m = static_cast<uint32_t>(((((uint64_t{1} << l) - d) << 32) / d) + 1);
  div.sh1 = l < 1 ? l : 1;
  div.sh2 = l > 1 ? l - 1 : 0;
  return div;
}
#endif

// The scalar definitions (hash_contract.h), specialised on the flags.
template <bool kSign, bool kScale>
void GatherScalarT(const HashGather& g, uint32_t key, uint32_t stride,
                   size_t n, float* out) {
  const float* b = g.buckets + g.offset;
  for (size_t i = 0; i < n; ++i, key += stride) {
    float v = b[BucketOf(Xxh32(key, g.seed_h), g.num_buckets)];
    if (kSign && SignIsNegative(key, g.seed_s)) v = -v;
    out[i] = kScale ? v * g.scale : v;
  }
}

void GatherScalar(const HashGather& g, uint32_t key, uint32_t stride, size_t n,
                  float* out) {
  if (g.use_sign) {
    g.has_scale ? GatherScalarT<true, true>(g, key, stride, n, out)
                : GatherScalarT<true, false>(g, key, stride, n, out);
  } else {
    g.has_scale ? GatherScalarT<false, true>(g, key, stride, n, out)
                : GatherScalarT<false, false>(g, key, stride, n, out);
  }
}

// With num_buckets (1..2^32), out[i] is the bucket of the hash, else the hash.
void Xxh32KeysScalar(uint32_t key, uint32_t stride, size_t n, uint32_t seed,
                     uint64_t num_buckets, uint32_t* out) {
  if (num_buckets == 0) {
    for (size_t i = 0; i < n; ++i, key += stride) out[i] = Xxh32(key, seed);
  } else {
    for (size_t i = 0; i < n; ++i, key += stride) {
      out[i] = static_cast<uint32_t>(BucketOf(Xxh32(key, seed), num_buckets));
    }
  }
}

#if HK_SIMD_X86
// ------------------------------------------------------------ SSE4.1 (x4)
#define HK_SSE41 __attribute__((target("sse4.1")))

// xxh32 of 4 keys, given kp = key * PRIME32_3 (the key's only multiply, which
// the loops below advance by addition) and base = seed + PRIME32_5 + 4.
HK_SSE41 inline __m128i Xxh32x4(__m128i kp, __m128i base) {
  __m128i h = _mm_add_epi32(base, kp);
  h = _mm_or_si128(_mm_slli_epi32(h, 17), _mm_srli_epi32(h, 15));
  h = _mm_mullo_epi32(h, _mm_set1_epi32(static_cast<int>(kPrime32_4)));
  h = _mm_xor_si128(h, _mm_srli_epi32(h, 15));
  h = _mm_mullo_epi32(h, _mm_set1_epi32(static_cast<int>(kPrime32_2)));
  h = _mm_xor_si128(h, _mm_srli_epi32(h, 13));
  h = _mm_mullo_epi32(h, _mm_set1_epi32(static_cast<int>(kPrime32_3)));
  return _mm_xor_si128(h, _mm_srli_epi32(h, 16));
}

HK_SSE41 inline __m128i ModX4(__m128i x, const Divisor& dv) {
  const __m128i m = _mm_set1_epi32(static_cast<int>(dv.m));
  const __m128i even = _mm_srli_epi64(_mm_mul_epu32(x, m), 32);
  const __m128i odd = _mm_mul_epu32(_mm_srli_epi64(x, 32), m);
  const __m128i t = _mm_blend_epi16(even, odd, 0xCC);
  __m128i q = _mm_add_epi32(
      t, _mm_srl_epi32(_mm_sub_epi32(x, t), _mm_cvtsi32_si128(dv.sh1)));
  q = _mm_srl_epi32(q, _mm_cvtsi32_si128(dv.sh2));
  return _mm_sub_epi32(
      x, _mm_mullo_epi32(q, _mm_set1_epi32(static_cast<int>(dv.d))));
}

// (first + i * stride) * PRIME32_3 for lanes i = 0..3.
HK_SSE41 inline __m128i Lanes4(uint32_t first, uint32_t stride) {
  return _mm_set_epi32(static_cast<int>((first + 3 * stride) * kPrime32_3),
                       static_cast<int>((first + 2 * stride) * kPrime32_3),
                       static_cast<int>((first + stride) * kPrime32_3),
                       static_cast<int>(first * kPrime32_3));
}

HK_SSE41 void Xxh32KeysSse41(uint32_t first, uint32_t stride, size_t n,
                             uint32_t seed, uint64_t num_buckets,
                             uint32_t* out) {
  const __m128i base = _mm_set1_epi32(static_cast<int>(seed + kPrime32_5 + 4u));
  const __m128i step =
      _mm_set1_epi32(static_cast<int>(4 * stride * kPrime32_3));
  __m128i kp = Lanes4(first, stride);
  size_t i = 0;
  if (num_buckets == 0) {
    for (; i + 4 <= n; i += 4) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), Xxh32x4(kp, base));
      kp = _mm_add_epi32(kp, step);
    }
  } else if (num_buckets <= 0xFFFFFFFFu) {
    const Divisor dv = MakeDivisor(static_cast<uint32_t>(num_buckets));
    for (; i + 4 <= n; i += 4) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                       ModX4(Xxh32x4(kp, base), dv));
      kp = _mm_add_epi32(kp, step);
    }
  }
  Xxh32KeysScalar(first + static_cast<uint32_t>(i) * stride, stride, n - i,
                  seed, num_buckets, out + i);
}

HK_SSE41 void GatherSse41(const HashGather& g, uint32_t first, uint32_t stride,
                          size_t n, float* out) {
  const Divisor dv = MakeDivisor(static_cast<uint32_t>(g.num_buckets));
  const float* b = g.buckets + g.offset;
  const __m128i base_h =
      _mm_set1_epi32(static_cast<int>(g.seed_h + kPrime32_5 + 4u));
  const __m128i base_s =
      _mm_set1_epi32(static_cast<int>(g.seed_s + kPrime32_5 + 4u));
  const __m128i sign_bit = _mm_set1_epi32(g.use_sign ? INT32_MIN : 0);
  const __m128 scale = _mm_set1_ps(g.has_scale ? g.scale : 1.0f);
  const __m128i step =
      _mm_set1_epi32(static_cast<int>(4 * stride * kPrime32_3));
  __m128i kp = Lanes4(first, stride);
  alignas(16) uint32_t idx[4];
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    _mm_store_si128(reinterpret_cast<__m128i*>(idx),
                    ModX4(Xxh32x4(kp, base_h), dv));
    __m128 v = _mm_set_ps(b[idx[3]], b[idx[2]], b[idx[1]], b[idx[0]]);
    v = _mm_xor_ps(v, _mm_castsi128_ps(
                          _mm_and_si128(Xxh32x4(kp, base_s), sign_bit)));
    if (g.has_scale) v = _mm_mul_ps(v, scale);
    _mm_storeu_ps(out + i, v);
    kp = _mm_add_epi32(kp, step);
  }
  GatherScalar(g, first + static_cast<uint32_t>(i) * stride, stride, n - i,
               out + i);
}

// -------------------------------------------------------------- AVX2 (x8)
#define HK_AVX2 __attribute__((target("avx2")))

// As Xxh32x4: kp = key * PRIME32_3.
HK_AVX2 inline __m256i Xxh32x8(__m256i kp, __m256i base) {
  __m256i h = _mm256_add_epi32(base, kp);
  h = _mm256_or_si256(_mm256_slli_epi32(h, 17), _mm256_srli_epi32(h, 15));
  h = _mm256_mullo_epi32(h, _mm256_set1_epi32(static_cast<int>(kPrime32_4)));
  h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 15));
  h = _mm256_mullo_epi32(h, _mm256_set1_epi32(static_cast<int>(kPrime32_2)));
  h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 13));
  h = _mm256_mullo_epi32(h, _mm256_set1_epi32(static_cast<int>(kPrime32_3)));
  return _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
}

HK_AVX2 inline __m256i ModX8(__m256i x, const Divisor& dv) {
  const __m256i m = _mm256_set1_epi32(static_cast<int>(dv.m));
  const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(x, m), 32);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), m);
  const __m256i t = _mm256_blend_epi32(even, odd, 0xAA);
  __m256i q = _mm256_add_epi32(
      t, _mm256_srl_epi32(_mm256_sub_epi32(x, t), _mm_cvtsi32_si128(dv.sh1)));
  q = _mm256_srl_epi32(q, _mm_cvtsi32_si128(dv.sh2));
  return _mm256_sub_epi32(
      x, _mm256_mullo_epi32(q, _mm256_set1_epi32(static_cast<int>(dv.d))));
}

// (first + i * stride) * PRIME32_3 for lanes i = 0..7.
HK_AVX2 inline __m256i Lanes8(uint32_t first, uint32_t stride) {
  const __m256i key = _mm256_add_epi32(
      _mm256_set1_epi32(static_cast<int>(first)),
      _mm256_mullo_epi32(_mm256_set1_epi32(static_cast<int>(stride)),
                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  return _mm256_mullo_epi32(key,
                            _mm256_set1_epi32(static_cast<int>(kPrime32_3)));
}

HK_AVX2 void Xxh32KeysAvx2(uint32_t first, uint32_t stride, size_t n,
                           uint32_t seed, uint64_t num_buckets,
                           uint32_t* out) {
  const __m256i base =
      _mm256_set1_epi32(static_cast<int>(seed + kPrime32_5 + 4u));
  const __m256i step =
      _mm256_set1_epi32(static_cast<int>(8 * stride * kPrime32_3));
  __m256i kp = Lanes8(first, stride);
  size_t i = 0;
  if (num_buckets == 0) {
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                          Xxh32x8(kp, base));
      kp = _mm256_add_epi32(kp, step);
    }
  } else if (num_buckets <= 0xFFFFFFFFu) {
    const Divisor dv = MakeDivisor(static_cast<uint32_t>(num_buckets));
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                          ModX8(Xxh32x8(kp, base), dv));
      kp = _mm256_add_epi32(kp, step);
    }
  }
  Xxh32KeysScalar(first + static_cast<uint32_t>(i) * stride, stride, n - i,
                  seed, num_buckets, out + i);
}

// The hardware gather takes signed 32-bit indices: callers ensure K <= 2^31.
HK_AVX2 void GatherAvx2(const HashGather& g, uint32_t first, uint32_t stride,
                        size_t n, float* out) {
  const Divisor dv = MakeDivisor(static_cast<uint32_t>(g.num_buckets));
  const float* b = g.buckets + g.offset;
  const __m256i base_h =
      _mm256_set1_epi32(static_cast<int>(g.seed_h + kPrime32_5 + 4u));
  const __m256i base_s =
      _mm256_set1_epi32(static_cast<int>(g.seed_s + kPrime32_5 + 4u));
  const __m256i sign_bit = _mm256_set1_epi32(g.use_sign ? INT32_MIN : 0);
  const __m256 scale = _mm256_set1_ps(g.has_scale ? g.scale : 1.0f);
  const __m256i step =
      _mm256_set1_epi32(static_cast<int>(8 * stride * kPrime32_3));
  __m256i kp = Lanes8(first, stride);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i idx = ModX8(Xxh32x8(kp, base_h), dv);
    __m256 v = _mm256_i32gather_ps(b, idx, 4);
    v = _mm256_xor_ps(v, _mm256_castsi256_ps(_mm256_and_si256(
                             Xxh32x8(kp, base_s), sign_bit)));
    if (g.has_scale) v = _mm256_mul_ps(v, scale);
    _mm256_storeu_ps(out + i, v);
    kp = _mm256_add_epi32(kp, step);
  }
  GatherScalar(g, first + static_cast<uint32_t>(i) * stride, stride, n - i,
               out + i);
}
#endif  // HK_SIMD_X86

#if HK_SIMD_NEON
// -------------------------------------------------------------- NEON (x4)
// As on x86: kp = key * PRIME32_3, base = seed + PRIME32_5 + 4.
inline uint32x4_t Xxh32x4(uint32x4_t kp, uint32x4_t base) {
  uint32x4_t h = vaddq_u32(base, kp);
  h = vorrq_u32(vshlq_n_u32(h, 17), vshrq_n_u32(h, 15));
  h = vmulq_n_u32(h, kPrime32_4);
  h = veorq_u32(h, vshrq_n_u32(h, 15));
  h = vmulq_n_u32(h, kPrime32_2);
  h = veorq_u32(h, vshrq_n_u32(h, 13));
  h = vmulq_n_u32(h, kPrime32_3);
  return veorq_u32(h, vshrq_n_u32(h, 16));
}

inline uint32x4_t ModX4(uint32x4_t x, const Divisor& dv) {
  const uint32x4_t m = vdupq_n_u32(dv.m);
  const uint64x2_t lo = vmull_u32(vget_low_u32(x), vget_low_u32(m));
  const uint64x2_t hi = vmull_high_u32(x, m);
  const uint32x4_t t =
      vuzp2q_u32(vreinterpretq_u32_u64(lo), vreinterpretq_u32_u64(hi));
  uint32x4_t q =
      vaddq_u32(t, vshlq_u32(vsubq_u32(x, t), vdupq_n_s32(-dv.sh1)));
  q = vshlq_u32(q, vdupq_n_s32(-dv.sh2));
  return vsubq_u32(x, vmulq_n_u32(q, dv.d));
}

inline uint32x4_t Lanes4(uint32_t first, uint32_t stride) {
  const uint32_t lanes[4] = {
      first * kPrime32_3, (first + stride) * kPrime32_3,
      (first + 2 * stride) * kPrime32_3, (first + 3 * stride) * kPrime32_3};
  return vld1q_u32(lanes);
}

void Xxh32KeysNeon(uint32_t first, uint32_t stride, size_t n, uint32_t seed,
                   uint64_t num_buckets, uint32_t* out) {
  const uint32x4_t base = vdupq_n_u32(seed + kPrime32_5 + 4u);
  const uint32x4_t step = vdupq_n_u32(4 * stride * kPrime32_3);
  uint32x4_t kp = Lanes4(first, stride);
  size_t i = 0;
  if (num_buckets == 0) {
    for (; i + 4 <= n; i += 4) {
      vst1q_u32(out + i, Xxh32x4(kp, base));
      kp = vaddq_u32(kp, step);
    }
  } else if (num_buckets <= 0xFFFFFFFFu) {
    const Divisor dv = MakeDivisor(static_cast<uint32_t>(num_buckets));
    for (; i + 4 <= n; i += 4) {
      vst1q_u32(out + i, ModX4(Xxh32x4(kp, base), dv));
      kp = vaddq_u32(kp, step);
    }
  }
  Xxh32KeysScalar(first + static_cast<uint32_t>(i) * stride, stride, n - i,
                  seed, num_buckets, out + i);
}

void GatherNeon(const HashGather& g, uint32_t first, uint32_t stride, size_t n,
                float* out) {
  const Divisor dv = MakeDivisor(static_cast<uint32_t>(g.num_buckets));
  const float* b = g.buckets + g.offset;
  const uint32x4_t base_h = vdupq_n_u32(g.seed_h + kPrime32_5 + 4u);
  const uint32x4_t base_s = vdupq_n_u32(g.seed_s + kPrime32_5 + 4u);
  const uint32x4_t sign_bit = vdupq_n_u32(g.use_sign ? 0x80000000u : 0u);
  const float32x4_t scale = vdupq_n_f32(g.has_scale ? g.scale : 1.0f);
  const uint32x4_t step = vdupq_n_u32(4 * stride * kPrime32_3);
  uint32x4_t kp = Lanes4(first, stride);
  uint32_t idx[4];
  float lane[4];
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    vst1q_u32(idx, ModX4(Xxh32x4(kp, base_h), dv));
    lane[0] = b[idx[0]];
    lane[1] = b[idx[1]];
    lane[2] = b[idx[2]];
    lane[3] = b[idx[3]];
    uint32x4_t bits = veorq_u32(vreinterpretq_u32_f32(vld1q_f32(lane)),
                                vandq_u32(Xxh32x4(kp, base_s), sign_bit));
    float32x4_t v = vreinterpretq_f32_u32(bits);
    if (g.has_scale) v = vmulq_f32(v, scale);
    vst1q_f32(out + i, v);
    kp = vaddq_u32(kp, step);
  }
  GatherScalar(g, first + static_cast<uint32_t>(i) * stride, stride, n - i,
               out + i);
}
#endif  // HK_SIMD_NEON

// -1: not chosen yet.
std::atomic<int> g_active{-1};

bool ParsePath(const char* name, SimdPath* path) {
  for (int p = 0; p < kNumSimdPaths; ++p) {
    if (strcmp(name, SimdPathName(static_cast<SimdPath>(p))) == 0) {
      *path = static_cast<SimdPath>(p);
      return true;
    }
  }
  if (strcmp(name, "auto") == 0) {
    *path = BestSimdPath();
    return true;
  }
  return false;
}

SimdPath PathFromEnvironment() {
  const SimdPath best = BestSimdPath();
  const char* env = getenv("HK_SIMD");
  if (env == nullptr || *env == '\0') return best;
  SimdPath path;
  if (!ParsePath(env, &path)) {
    fprintf(stderr,
            "hashed_keras: HK_SIMD='%.32s' is not one of scalar, sse41, avx2, "
            "neon, auto; using %s\n",
            env, SimdPathName(best));
    return best;
  }
  if (!SimdPathSupported(path)) {
    fprintf(stderr,
            "hashed_keras: HK_SIMD=%s: this CPU or build lacks it; using %s\n",
            SimdPathName(path), SimdPathName(best));
    return best;
  }
  return path;
}

}  // namespace

const char* SimdPathName(SimdPath path) {
  switch (path) {
    case SimdPath::kScalar: return "scalar";
    case SimdPath::kSse41: return "sse41";
    case SimdPath::kAvx2: return "avx2";
    case SimdPath::kNeon: return "neon";
  }
  return "scalar";
}

bool SimdPathSupported(SimdPath path) {
  switch (path) {
    case SimdPath::kScalar:
      return true;
#if HK_SIMD_X86
    case SimdPath::kSse41:
      return __builtin_cpu_supports("sse4.1");
    case SimdPath::kAvx2:
      return __builtin_cpu_supports("avx2");
#endif
#if HK_SIMD_NEON
    case SimdPath::kNeon:
      return true;
#endif
    default:
      return false;
  }
}

SimdPath BestSimdPath() {
  for (SimdPath p : {SimdPath::kAvx2, SimdPath::kSse41, SimdPath::kNeon}) {
    if (SimdPathSupported(p)) return p;
  }
  return SimdPath::kScalar;
}

SimdPath ActiveSimdPath() {
  int p = g_active.load(std::memory_order_acquire);
  if (p < 0) {
    int chosen = static_cast<int>(PathFromEnvironment());
    // The first thread to choose wins (the environment reads the same).
    if (!g_active.compare_exchange_strong(p, chosen)) return SimdPath(p);
    p = chosen;
  }
  return static_cast<SimdPath>(p);
}

void Xxh32Keys(SimdPath path, uint32_t first, uint32_t stride, size_t n,
               uint32_t seed, uint32_t* out) {
  BucketKeys(path, first, stride, n, seed, 0, out);
}

void BucketKeys(SimdPath path, uint32_t first, uint32_t stride, size_t n,
                uint32_t seed, uint64_t num_buckets, uint32_t* out) {
  if (!SimdPathSupported(path)) path = SimdPath::kScalar;
  switch (path) {
#if HK_SIMD_X86
    case SimdPath::kSse41:
      return Xxh32KeysSse41(first, stride, n, seed, num_buckets, out);
    case SimdPath::kAvx2:
      return Xxh32KeysAvx2(first, stride, n, seed, num_buckets, out);
#endif
#if HK_SIMD_NEON
    case SimdPath::kNeon:
      return Xxh32KeysNeon(first, stride, n, seed, num_buckets, out);
#endif
    default:
      return Xxh32KeysScalar(first, stride, n, seed, num_buckets, out);
  }
}

void GatherHashed(SimdPath path, const HashGather& g, uint32_t first,
                  uint32_t stride, size_t n, float* out) {
  if (!SimdPathSupported(path)) path = SimdPath::kScalar;
  // K = 2^32 (bucket = the hash itself) exists only in theory: scalar.
  if (g.num_buckets > 0xFFFFFFFFu) path = SimdPath::kScalar;
  switch (path) {
#if HK_SIMD_X86
    case SimdPath::kSse41:
      return GatherSse41(g, first, stride, n, out);
    case SimdPath::kAvx2:
      // Signed 32-bit gather indices.
      if (g.num_buckets > 0x7FFFFFFFu) {
        return GatherSse41(g, first, stride, n, out);
      }
      return GatherAvx2(g, first, stride, n, out);
#endif
#if HK_SIMD_NEON
    case SimdPath::kNeon:
      return GatherNeon(g, first, stride, n, out);
#endif
    default:
      return GatherScalar(g, first, stride, n, out);
  }
}

}  // namespace hk

extern "C" {

HK_API const char* hk_simd_path(void) {
  return hk::SimdPathName(hk::ActiveSimdPath());
}

HK_API int hk_simd_select(const char* name) {
  hk::SimdPath path;
  if (name == nullptr || !hk::ParsePath(name, &path) ||
      !hk::SimdPathSupported(path)) {
    return -1;
  }
  hk::g_active.store(static_cast<int>(path), std::memory_order_release);
  return 0;
}

HK_API void hk_simd_xxh32_keys(uint32_t first, uint32_t stride, size_t n,
                               uint32_t seed, uint32_t* out) {
  if (out == nullptr) return;
  hk::Xxh32Keys(hk::ActiveSimdPath(), first, stride, n, seed, out);
}

}  // extern "C"
