// The TFLite kernel of `FreshWeights` (served by the delegate, delegate.cc):
// what WeightsKernel needs of this operator.
#include "fresh_weights.h"
#include "weights_kernel.h"

namespace hk {
namespace {

struct FreshWeightsOp : HashingInputs {
  using Plan = FreshWeightsPlan;
  static constexpr auto Parse = &ParseFreshWeightsOptions;
  static uint64_t BiasSize(const Plan&) { return 0; }
  static std::string CountWhy(const Plan&) { return "weights"; }
  static OpCost Cost(const Plan& plan) {
    OpCost cost;
    cost.virtual_weights = plan.kernel_size;
    cost.output_bytes = plan.kernel_size * sizeof(float);
    // Per weight: its coefficient's hashes, then the separable inverse DCT
    // (kw + kh multiply-adds).
    cost.work = plan.kernel_size *
                (kUnitsPerHashedWeight +
                 static_cast<uint64_t>(plan.kernel_shape[0]) +
                 static_cast<uint64_t>(plan.kernel_shape[1]));
    return cost;
  }
  static void Compute(const Plan& plan, const float* const* inputs,
                      float* const* outputs) {
    ComputeFreshWeights(plan, inputs[0], inputs[1], outputs[0]);
  }
};

}  // namespace

OpKernel* CreateFreshWeightsKernel(const uint8_t* options, size_t length) {
  return WeightsKernel<FreshWeightsOp>::Create(options, length);
}

}  // namespace hk
