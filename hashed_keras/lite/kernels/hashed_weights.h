// The `HashedWeights` operator, independent of any runtime: parsing and
// validating its options (docs/tflite_format.md), checking buffer sizes, and
// the compute loop.
#ifndef HASHED_KERAS_LITE_KERNELS_HASHED_WEIGHTS_H_
#define HASHED_KERAS_LITE_KERNELS_HASHED_WEIGHTS_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "options.h"  // Format
#include "simd_hash.h"

namespace hk {

enum class Layout { kFc, kOhwi };

// Options of one HashedWeights node, validated, with derived sizes.
struct HashedWeightsPlan {
  int64_t contract_version = 0;
  uint32_t seed = 0;
  uint64_t num_buckets = 0;  // K
  Layout layout = Layout::kFc;
  int rank = 0;              // 2 (fc) or 4 (ohwi)
  int64_t kernel_shape[4] = {0, 0, 0, 0};  // Keras layout
  bool use_sign = true;
  bool hash_bias = false;
  uint64_t bias_size = 0;

  // Derived.
  uint64_t out = 0;           // O: the last Keras dimension
  uint64_t rows = 0;          // R: product of the other dimensions
  uint64_t kernel_size = 0;   // R * O
  uint64_t virtual_size = 0;  // kernel_size (+ bias_size with hash_bias)

  // The TFLite shape of output 0 ([O, I] or [O, H, W, I]).
  int OutputRank() const { return rank; }
  int64_t OutputDim(int i) const {
    return i == 0 ? kernel_shape[rank - 1] : kernel_shape[i - 1];
  }
};

// Parses and validates `options` (a FlexBuffers map). On failure returns false
// and sets `error` to a message naming the key and the problem.
bool ParseHashedWeightsOptions(const uint8_t* options, size_t length,
                               HashedWeightsPlan* plan, std::string* error);

// Fills `out` ([out, rows] == the layout's shape, row-major) and, with
// hash_bias, `bias` ([out]). `scale` ([out]) may be null. The caller has
// checked every length against `plan` (buckets: K; out: kernel_size).
// Uses the active SIMD path (simd_hash.h); every path gives the same bits.
void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias);
// The same with a given path (tests and benchmarks).
void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias,
                          SimdPath path);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_HASHED_WEIGHTS_H_
