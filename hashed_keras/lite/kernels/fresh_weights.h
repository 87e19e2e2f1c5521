// The `FreshWeights` operator (FreshNets, docs/tflite_format.md), independent
// of any runtime: parsing and validating its options, and the compute loop.
// A conv filter's 2-D DCT-II coefficients are hashed, with frequency-band
// bucket pools (docs/hash_contract.md, "Frequency keys"), and the filter is
// their inverse DCT.
#ifndef HASHED_KERAS_LITE_KERNELS_FRESH_WEIGHTS_H_
#define HASHED_KERAS_LITE_KERNELS_FRESH_WEIGHTS_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "simd_hash.h"

namespace hk {

struct FreshWeightsPlan {
  // Filters are at most this large in each spatial dimension.
  static constexpr int64_t kMaxKernelDim = 32;
  static constexpr int kMaxBands = 2 * kMaxKernelDim - 1;

  uint32_t seed = 0;
  bool use_sign = true;
  int64_t kernel_shape[4] = {0, 0, 0, 0};  // Keras layout [kh, kw, in, out]
  int num_bands = 0;                       // kh + kw - 1
  uint64_t band_buckets[kMaxBands] = {};   // K_b
  uint64_t band_offset[kMaxBands] = {};    // sum of K_b' for b' < b
  uint64_t num_buckets = 0;                // K = sum of K_b
  uint64_t kernel_size = 0;                // kh * kw * in * out
  uint64_t out = 0;

  // Output 0 is OHWI: [out, kh, kw, in].
  int64_t OutputDim(int i) const {
    return i == 0 ? kernel_shape[3] : kernel_shape[i - 1];
  }
};

// Parses and validates `options` (a FlexBuffers map). On failure returns false
// and sets `error` to a message naming the key and the problem.
bool ParseFreshWeightsOptions(const uint8_t* options, size_t length,
                              FreshWeightsPlan* plan, std::string* error);

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
