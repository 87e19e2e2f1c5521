// The TFLite kernel of `HashedWeights` (served by the delegate, delegate.cc):
// what WeightsKernel needs of this operator.
#include "hashed_weights.h"
#include "weights_kernel.h"

namespace hk {
namespace {

struct HashedWeightsOp : HashingInputs {
  using Plan = HashedWeightsPlan;
  static constexpr auto Parse = &ParseHashedWeightsOptions;
  static uint64_t BiasSize(const Plan& plan) {
    return plan.hash_bias ? plan.bias_size : 0;
  }
  static std::string CountWhy(const Plan& plan) {
    return plan.hash_bias ? "hash_bias is true" : "hash_bias is false";
  }
  static OpCost Cost(const Plan& plan) {
    OpCost cost;
    cost.virtual_weights = plan.virtual_size;
    cost.output_bytes = (plan.kernel_size + BiasSize(plan)) * sizeof(float);
    cost.work = kUnitsPerHashedWeight * plan.virtual_size;
    return cost;
  }
  static void Compute(const Plan& plan, const float* const* inputs,
                      float* const* outputs) {
    ComputeHashedWeights(plan, inputs[0], inputs[1], outputs[0],
                         plan.hash_bias ? outputs[1] : nullptr);
  }
  static void ComputeTile(const Plan& plan, const float* const* inputs,
                          uint64_t o0, uint64_t o1, uint64_t r0, uint64_t r1,
                          float* tile) {
    ComputeHashedTile(plan, inputs[0], inputs[1], o0, o1, r0, r1, tile,
                      ActiveSimdPath());
  }
  static void ComputeBias(const Plan& plan, const float* const* inputs,
                          float* bias) {
    if (plan.hash_bias) ComputeHashedBias(plan, inputs[0], bias, ActiveSimdPath());
  }
};

}  // namespace

OpKernel* CreateHashedWeightsKernel(const uint8_t* options, size_t length) {
  return WeightsKernel<HashedWeightsOp>::Create(options, length);
}

}  // namespace hk
