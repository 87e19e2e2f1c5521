#include "fresh_weights.h"

#include <inttypes.h>
#include <math.h>

#include <vector>

#include "hash_contract.h"
#include "simd_hash.h"

namespace hk {

Status ParseFreshWeightsOptions(const uint8_t* options, size_t length,
                                FreshWeightsPlan* plan) {
  *plan = FreshWeightsPlan();
  OptionsMap map(options, length);
  HK_RETURN_IF_ERROR(map.Init());
  HK_RETURN_IF_ERROR(map.CheckContractVersion());
  HK_RETURN_IF_ERROR(map.Seed(&plan->seed));
  HK_RETURN_IF_ERROR(map.Geometry("FreshWeights", plan));
  const int64_t kh = plan->kernel_shape[0], kw = plan->kernel_shape[1];
  HK_ENSURE(kh <= FreshWeightsPlan::kMaxKernelDim &&
                kw <= FreshWeightsPlan::kMaxKernelDim,
            Format("key 'kernel_shape': filters of %" PRId64 "x%" PRId64
                   " are larger than the supported %" PRId64 "x%" PRId64,
                   kh, kw, FreshWeightsPlan::kMaxKernelDim,
                   FreshWeightsPlan::kMaxKernelDim));
  const uint64_t channels =
      static_cast<uint64_t>(plan->kernel_shape[2]) * plan->out;
  plan->num_bands = static_cast<int>(kh + kw - 1);

  int64_t bands[FreshWeightsPlan::kMaxBands];
  size_t count = 0;
  HK_RETURN_IF_ERROR(map.IntVector("band_buckets", bands,
                                   FreshWeightsPlan::kMaxBands, &count));
  HK_ENSURE(count == static_cast<size_t>(plan->num_bands),
            Format("key 'band_buckets' has %zu entries; a %" PRId64 "x%" PRId64
                   " filter has %d frequency bands",
                   count, kh, kw, plan->num_bands));
  uint64_t total = 0;
  for (int b = 0; b < plan->num_bands; ++b) {
    // Coefficients (j1, j2) with j1 + j2 = b, times in * out.
    const int64_t lo = b - (kw - 1) > 0 ? b - (kw - 1) : 0;
    const int64_t hi = b < kh - 1 ? b : kh - 1;
    const uint64_t in_band = static_cast<uint64_t>(hi - lo + 1) * channels;
    HK_ENSURE(bands[b] >= 1 && static_cast<uint64_t>(bands[b]) <= in_band,
              Format("key 'band_buckets'[%d] = %" PRId64 " must be in [1, "
                     "%" PRIu64 "] (the band's coefficients)",
                     b, bands[b], in_band));
    plan->band_offset[b] = total;
    plan->band_buckets[b] = static_cast<uint64_t>(bands[b]);
    total += plan->band_buckets[b];  // <= kernel_size <= 2^32: no overflow
  }
  int64_t buckets;
  HK_RETURN_IF_ERROR(map.Int("buckets", &buckets));
  HK_ENSURE(buckets >= 1 && static_cast<uint64_t>(buckets) == total,
            Format("key 'buckets' = %" PRId64 " must equal the sum of "
                   "'band_buckets' (%" PRIu64 ")", buckets, total));
  plan->num_buckets = total;
  return map.Bool("use_sign", &plan->use_sign);
}

namespace {

// The orthonormal DCT-II matrix D[j * n + y] = a_j cos(pi (2y + 1) j / 2n).
std::vector<double> DctMatrix(int64_t n) {
  std::vector<double> d(static_cast<size_t>(n * n));
  const double pi = 3.14159265358979323846;
  for (int64_t j = 0; j < n; ++j) {
    const double a = j == 0 ? sqrt(1.0 / n) : sqrt(2.0 / n);
    for (int64_t y = 0; y < n; ++y) {
      d[static_cast<size_t>(j * n + y)] =
          a * cos(pi * static_cast<double>(2 * y + 1) * j / (2.0 * n));
    }
  }
  return d;
}

}  // namespace

void ComputeFreshWeights(const FreshWeightsPlan& plan, const float* buckets,
                         const float* scale, float* out) {
  ComputeFreshWeights(plan, buckets, scale, out, ActiveSimdPath());
}

void ComputeFreshWeights(const FreshWeightsPlan& plan, const float* buckets,
                         const float* scale, float* out, SimdPath path) {
  const int64_t kh = plan.kernel_shape[0], kw = plan.kernel_shape[1];
  const uint64_t in = static_cast<uint64_t>(plan.kernel_shape[2]);
  const uint64_t num_out = plan.out;
  const uint64_t taps = static_cast<uint64_t>(kh * kw);
  // Filter (c, o) is p = c * out + o; its coefficient F[j1, j2] (tap t =
  // j1 kw + j2) has key ((j1 kw + j2) in + c) out + o = t * filters + p: for
  // one tap, consecutive filters have consecutive keys and share the band's
  // pool, so each tap of a chunk of filters is one vectorised gather.
  const uint64_t filters = in * num_out;
  const uint64_t chunk = taps < 4096 ? 4096 / taps : 1;
  const DerivedSeeds seeds = DeriveSeeds(plan.seed);
  const std::vector<double> dh = DctMatrix(kh), dw = DctMatrix(kw);
  std::vector<float> hashed(static_cast<size_t>(taps * chunk));
  std::vector<double> half(static_cast<size_t>(taps * chunk));
  std::vector<double> acc(static_cast<size_t>(chunk));
  std::vector<double> filter_s(static_cast<size_t>(chunk));
  std::vector<uint64_t> filter_c(static_cast<size_t>(chunk));
  std::vector<uint64_t> filter_o(static_cast<size_t>(chunk));
  HashGather g;
  g.buckets = buckets;
  g.seed_h = seeds.bucket;
  g.seed_s = seeds.sign;
  g.use_sign = plan.use_sign;
  for (uint64_t p0 = 0; p0 < filters; p0 += chunk) {
    const uint64_t n = filters - p0 < chunk ? filters - p0 : chunk;
    for (uint64_t t = 0; t < taps; ++t) {
      const int b = static_cast<int>(t / static_cast<uint64_t>(kw) +
                                     t % static_cast<uint64_t>(kw));
      g.num_buckets = plan.band_buckets[b];
      g.offset = plan.band_offset[b];
      GatherHashed(path, g, static_cast<uint32_t>(t * filters + p0), 1u,
                   static_cast<size_t>(n), hashed.data() + t * chunk);
    }
    // The inverse DCT of the chunk's filters, with the filters innermost
    // (contiguous: the compiler vectorises these loops). Each filter's sums
    // are the same products added in the same order as one filter at a time.
    // half[j1, x] = sum_j2 F[j1, j2] Dw[j2, x]
    for (int64_t j1 = 0; j1 < kh; ++j1) {
      for (int64_t x = 0; x < kw; ++x) {
        double* h = half.data() + static_cast<uint64_t>(j1 * kw + x) * chunk;
        for (uint64_t q = 0; q < n; ++q) h[q] = 0.0;
        for (int64_t j2 = 0; j2 < kw; ++j2) {
          const double d = dw[static_cast<size_t>(j2 * kw + x)];
          const float* f =
              hashed.data() + static_cast<uint64_t>(j1 * kw + j2) * chunk;
          for (uint64_t q = 0; q < n; ++q) {
            h[q] += static_cast<double>(f[q]) * d;
          }
        }
      }
    }
    for (uint64_t q = 0; q < n; ++q) {
      const uint64_t o = (p0 + q) % num_out;
      filter_c[q] = (p0 + q) / num_out;
      filter_o[q] = o;
      filter_s[q] = scale ? static_cast<double>(scale[o]) : 1.0;
    }
    // W[o, y, x, c] = s * sum_j1 Dh[j1, y] half[j1, x]
    for (int64_t y = 0; y < kh; ++y) {
      for (int64_t x = 0; x < kw; ++x) {
        for (uint64_t q = 0; q < n; ++q) acc[q] = 0.0;
        for (int64_t j1 = 0; j1 < kh; ++j1) {
          const double d = dh[static_cast<size_t>(j1 * kh + y)];
          const double* h =
              half.data() + static_cast<uint64_t>(j1 * kw + x) * chunk;
          for (uint64_t q = 0; q < n; ++q) acc[q] += d * h[q];
        }
        for (uint64_t q = 0; q < n; ++q) {
          out[((filter_o[q] * static_cast<uint64_t>(kh) +
                static_cast<uint64_t>(y)) *
                   static_cast<uint64_t>(kw) +
               static_cast<uint64_t>(x)) * in + filter_c[q]] =
              static_cast<float>(acc[q] * filter_s[q]);
        }
      }
    }
  }
}

}  // namespace hk
