// The `FreshWeights` operator (FreshNets, docs/tflite_format.md), independent
// of any runtime: parsing and validating its options, and the compute loop.
// A conv filter's 2-D DCT-II coefficients are hashed, with frequency-band
// bucket pools (docs/hash_contract.md, "Frequency keys"), and the filter is
// their inverse DCT.
#ifndef HASHED_KERAS_LITE_KERNELS_FRESH_WEIGHTS_H_
#define HASHED_KERAS_LITE_KERNELS_FRESH_WEIGHTS_H_

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "simd_hash.h"

namespace hk {

// Options of one FreshWeights node (layout 'ohwi'), validated.
struct FreshWeightsPlan : KernelGeometry {
  // Filters are at most this large in each spatial dimension.
  static constexpr int64_t kMaxKernelDim = 32;
  static constexpr int kMaxBands = 2 * kMaxKernelDim - 1;

  uint32_t seed = 0;
  bool use_sign = true;
  int num_bands = 0;                       // kh + kw - 1
  uint64_t band_buckets[kMaxBands] = {};   // K_b
  uint64_t band_offset[kMaxBands] = {};    // sum of K_b' for b' < b
  uint64_t num_buckets = 0;                // K = sum of K_b
};

// Parses and validates `options` (a FlexBuffers map); the error names the key
// and the problem.
Status ParseFreshWeightsOptions(const uint8_t* options, size_t length,
                                FreshWeightsPlan* plan);

// Fills `out` ([out, kh, kw, in], row-major) from `buckets` (K values) and
// the optional per-output-channel `scale` (out values, or null).
// Uses the active SIMD path for the coefficients' hashes (simd_hash.h); every
// path gives the same bits.
void ComputeFreshWeights(const FreshWeightsPlan& plan, const float* buckets,
                         const float* scale, float* out);
// The same with a given path (tests and benchmarks).
void ComputeFreshWeights(const FreshWeightsPlan& plan, const float* buckets,
                         const float* scale, float* out, SimdPath path);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_FRESH_WEIGHTS_H_
