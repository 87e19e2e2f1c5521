// The `HashedWeights` operator, independent of any runtime: parsing and
// validating its options (docs/tflite_format.md), checking buffer sizes, and
// the compute loop.
#ifndef HASHED_KERAS_LITE_KERNELS_HASHED_WEIGHTS_H_
#define HASHED_KERAS_LITE_KERNELS_HASHED_WEIGHTS_H_

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "simd_hash.h"

namespace hk {

// Options of one HashedWeights node, validated, with derived sizes (the
// kernel's layout and shape: KernelGeometry).
struct HashedWeightsPlan : KernelGeometry {
  uint32_t seed = 0;
  uint64_t num_buckets = 0;  // K
  bool use_sign = true;
  bool hash_bias = false;
  uint64_t bias_size = 0;
  uint64_t virtual_size = 0;  // kernel_size (+ bias_size with hash_bias)
};

// Parses and validates `options` (a FlexBuffers map); the error names the key
// and the problem.
Status ParseHashedWeightsOptions(const uint8_t* options, size_t length,
                                 HashedWeightsPlan* plan);

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

// Rows [o0, o1) x columns [r0, r1) of the [out, rows] weights into `tile`
// (r1 - r0 floats per row): the same bits ComputeHashedWeights writes there
// (it is this function over the whole range). On the fly, a tile at a time.
void ComputeHashedTile(const HashedWeightsPlan& plan, const float* buckets,
                       const float* scale, uint64_t o0, uint64_t o1,
                       uint64_t r0, uint64_t r1, float* tile, SimdPath path);
// The hashed bias ([out], hash_bias only), as ComputeHashedWeights writes it.
void ComputeHashedBias(const HashedWeightsPlan& plan, const float* buckets,
                       float* bias, SimdPath path);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_HASHED_WEIGHTS_H_
