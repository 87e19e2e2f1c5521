// The TFLite kernel of `SMHWeights` (served by the delegate, delegate.cc):
// what WeightsKernel needs of this operator.
#include <string>
#include <vector>

#include "smh_weights.h"
#include "weights_kernel.h"

namespace hk {
namespace {

using tfl::TfLiteTensor;

struct SmhWeightsOp {
  using Plan = SmhWeightsPlan;
  static constexpr auto Parse = &ParseSmhWeightsOptions;

  static Status CheckInputs(tfl::TfLiteContext* context, const NodeIo& node,
                            const Plan& plan) {
    HK_ENSURE(node.num_inputs >= 3 && node.num_inputs <= 4,
              Format("has %d inputs; expected 3 (U, V, scales) or 4 (U, V, "
                     "scales, channel scale)", node.num_inputs));
    const int64_t factor[2] = {static_cast<int64_t>(plan.rank),
                               static_cast<int64_t>(plan.n)};
    const char* names[2] = {"input 0 (U)", "input 1 (V)"};
    for (int i = 0; i < 2; ++i) {
      const TfLiteTensor* t = TensorAt(context, node.inputs[i]);
      HK_ENSURE(t != nullptr, std::string(names[i]) + " is missing");
      HK_ENSURE(IsSharedVariable(t, factor, 2),
                std::string(names[i]) + " (keys 'rank', 'n') " +
                    SharedVariableProblem(t, factor, 2));
    }
    const TfLiteTensor* scales = TensorAt(context, node.inputs[2]);
    const int64_t two = 2;
    HK_ENSURE(scales != nullptr, "input 2 (scales) is missing");
    HK_ENSURE(IsFloat32WithDims(scales, &two, 1),
              "input 2 (scales) must be float32 [2] (kernel scale, bias "
              "scale), got " + TensorString(scales));
    if (node.num_inputs == 4 && node.inputs[3] != tfl::kTfLiteOptionalTensor) {
      const TfLiteTensor* channel = TensorAt(context, node.inputs[3]);
      const int64_t out = static_cast<int64_t>(plan.out);
      HK_ENSURE(channel != nullptr, "input 3 (channel scale) is missing");
      HK_ENSURE(IsFloat32WithDims(channel, &out, 1),
                Format("input 3 (channel scale) must be float32 [%lld], got %s",
                       static_cast<long long>(out),
                       TensorString(channel).c_str()));
    }
    return Status();
  }
  static uint64_t BiasSize(const Plan& plan) { return plan.bias_size; }
  static std::string CountWhy(const Plan& plan) {
    return Format("bias_size is %llu",
                  static_cast<unsigned long long>(plan.bias_size));
  }
  static OpCost Cost(const Plan& plan) {
    OpCost cost;
    cost.virtual_weights = plan.kernel_size + plan.bias_size;
    cost.output_bytes = cost.virtual_weights * sizeof(float);
    cost.scratch_bytes = plan.ScratchSize() * sizeof(double);
    cost.work = plan.MultiplyAdds() + 4 * cost.virtual_weights;
    return cost;
  }
  static void Compute(const Plan& plan, const float* const* inputs,
                      float* const* outputs) {
    // Scratch lives only during the call (a constant node computes once).
    std::vector<double> scratch(static_cast<size_t>(plan.ScratchSize()));
    ComputeSmhWeights(plan, inputs[0], inputs[1], inputs[2], inputs[3],
                      scratch.data(), outputs[0],
                      plan.bias_size ? outputs[1] : nullptr);
  }
  static void ComputeTile(const Plan& plan, const float* const* inputs,
                          uint64_t o0, uint64_t o1, uint64_t r0, uint64_t r1,
                          float* tile) {
    ComputeSmhTile(plan, inputs[0], inputs[1], inputs[2], inputs[3], o0, o1,
                   r0, r1, tile);
  }
  static void ComputeBias(const Plan& plan, const float* const* inputs,
                          float* bias) {
    if (plan.bias_size) {
      ComputeSmhBias(plan, inputs[0], inputs[1], inputs[2], bias);
    }
  }
};

}  // namespace

OpKernel* CreateSmhWeightsKernel(const uint8_t* options, size_t length) {
  return WeightsKernel<SmhWeightsOp>::Create(options, length);
}

}  // namespace hk
