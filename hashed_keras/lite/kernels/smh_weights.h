// The `SMHWeights` operator (Structured Multi-Hashing, docs/tflite_format.md),
// independent of any runtime: parsing and validating its options, and the
// compute loop. A layer's weights are consecutive positions of the virtual
// n x n matrix M = U^T V (U, V: [M, n], shared by the whole model); only the
// rows of M the layer covers are computed.
#ifndef HASHED_KERAS_LITE_KERNELS_SMH_WEIGHTS_H_
#define HASHED_KERAS_LITE_KERNELS_SMH_WEIGHTS_H_

#include <stddef.h>
#include <stdint.h>

#include "options.h"

namespace hk {

// Options of one SMHWeights node, validated, with derived sizes.
struct SmhWeightsPlan : KernelGeometry {
  uint64_t n = 0;       // M-hat is n x n
  uint64_t rank = 0;    // M: U and V are [rank, n]
  uint64_t start = 0;   // the layer's first position in M-hat (row-major)
  uint64_t bias_size = 0;  // 0, or out: the bias follows the kernel

  // Derived.
  uint64_t first_row = 0;    // rows of M-hat the layer covers
  uint64_t last_row = 0;

  // Doubles of scratch memory Compute needs (the covered rows of M-hat).
  uint64_t ScratchSize() const { return CoveredRows() * n; }
  uint64_t CoveredRows() const { return last_row - first_row + 1; }
  // Multiply-adds of Compute: rank per covered position of M-hat.
  uint64_t MultiplyAdds() const { return ScratchSize() * rank; }
};

Status ParseSmhWeightsOptions(const uint8_t* options, size_t length,
                              SmhWeightsPlan* plan);

// Fills `out` ([out, rows] in the layout) and, if bias_size, `bias`:
//   weights[o, r] = scales[0] * channel_scale[o] * M[start + r * out + o]
//   bias[o]       = scales[1] * M[start + kernel_size + o]
// with M[p] = sum_m U[m, p / n] V[m, p % n] (accumulated in double over m =
// 0, 1, ..., rounded to float once). `u`, `v` hold rank * n values,
// `channel_scale` (out values) may be null, `scratch` holds ScratchSize().
void ComputeSmhWeights(const SmhWeightsPlan& plan, const float* u,
                       const float* v, const float* scales,
                       const float* channel_scale, double* scratch, float* out,
                       float* bias);

// On the fly: rows [o0, o1) x columns [r0, r1) of the [out, rows] weights
// into `tile` (r1 - r0 floats per row), each position of M-hat summed as
// ComputeSmhWeights sums it (rank multiply-adds per weight, no scratch).
void ComputeSmhTile(const SmhWeightsPlan& plan, const float* u, const float* v,
                    const float* scales, const float* channel_scale,
                    uint64_t o0, uint64_t o1, uint64_t r0, uint64_t r1,
                    float* tile);
// The bias alone (bias_size values), as ComputeSmhWeights writes it.
void ComputeSmhBias(const SmhWeightsPlan& plan, const float* u, const float* v,
                    const float* scales, float* bias);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_SMH_WEIGHTS_H_
