// The TFLite kernel of `SMHWeights` (served by the delegate, delegate.cc).
#include <new>
#include <string>
#include <vector>

#include "op_registry.h"
#include "options.h"
#include "smh_weights.h"
#include "tflite_abi.h"

namespace hk {
namespace {

using tfl::TfLiteContext;
using tfl::TfLiteTensor;

class SmhWeightsKernel : public OpKernel {
 public:
  SmhWeightsKernel(const uint8_t* options, size_t length) {
    parsed_ = ParseSmhWeightsOptions(options, length, &plan_, &error_);
    if (parsed_) {
      weights_.rank = plan_.rank_of_kernel;
      for (int i = 0; i < weights_.rank; ++i) {
        weights_.dims[i] = plan_.OutputDim(i);
      }
      bias_.rank = 1;
      bias_.dims[0] = static_cast<int64_t>(plan_.bias_size);
    }
  }

  std::string Check(TfLiteContext* context, const NodeIo& node,
                    std::vector<OutputShape>* outputs) override {
    if (!parsed_) return "invalid custom options: " + error_;
    if (node.num_inputs < 3 || node.num_inputs > 4) {
      return Format("has %d inputs; expected 3 (U, V, scales) or 4 (U, V, "
                    "scales, channel scale)", node.num_inputs);
    }
    const int64_t factor[2] = {static_cast<int64_t>(plan_.rank),
                               static_cast<int64_t>(plan_.n)};
    const char* names[2] = {"input 0 (U)", "input 1 (V)"};
    for (int i = 0; i < 2; ++i) {
      const TfLiteTensor* t = TensorAt(context, node.inputs[i]);
      if (t == nullptr) return std::string(names[i]) + " is missing";
      if (!IsSharedVariable(t, factor, 2)) {
        return std::string(names[i]) + " (keys 'rank', 'n') " +
               SharedVariableProblem(t, factor, 2);
      }
    }
    const TfLiteTensor* scales = TensorAt(context, node.inputs[2]);
    const int64_t two = 2;
    if (scales == nullptr) return "input 2 (scales) is missing";
    if (!IsFloat32WithDims(scales, &two, 1)) {
      return "input 2 (scales) must be float32 [2] (kernel scale, bias "
             "scale), got " + TensorString(scales);
    }
    if (node.num_inputs == 4 && node.inputs[3] != tfl::kTfLiteOptionalTensor) {
      const TfLiteTensor* channel = TensorAt(context, node.inputs[3]);
      const int64_t out = static_cast<int64_t>(plan_.out);
      if (channel == nullptr) return "input 3 (channel scale) is missing";
      if (!IsFloat32WithDims(channel, &out, 1)) {
        return Format("input 3 (channel scale) must be float32 [%lld], got %s",
                      static_cast<long long>(out),
                      TensorString(channel).c_str());
      }
    }
    const int want_outputs = plan_.bias_size ? 2 : 1;
    if (node.num_outputs != want_outputs) {
      return Format("has %d outputs; expected %d (bias_size is %llu)",
                    node.num_outputs, want_outputs,
                    static_cast<unsigned long long>(plan_.bias_size));
    }
    std::string error = CheckOutput(
        context, node, 0, weights_, "weights",
        "kernel_shape " + ShapeString(plan_.kernel_shape, weights_.rank) +
            ", layout '" + (plan_.layout == Layout::kFc ? "fc" : "ohwi") + "'");
    if (!error.empty()) return error;
    outputs->assign(1, weights_);
    if (plan_.bias_size) {
      error = CheckOutput(context, node, 1, bias_, "bias", "key 'bias_size'");
      if (!error.empty()) return error;
      outputs->push_back(bias_);
    }
    return "";
  }

  OpCost Cost() const override {
    OpCost cost;
    if (!parsed_) return cost;
    cost.virtual_weights = plan_.kernel_size + plan_.bias_size;
    cost.output_bytes = cost.virtual_weights * sizeof(float);
    cost.scratch_bytes = plan_.ScratchSize() * sizeof(double);
    cost.work = plan_.MultiplyAdds() + 4 * cost.virtual_weights;
    return cost;
  }

  void Compute(const float* const* inputs, float* const* outputs) override {
    // Scratch lives only during the call (a constant node computes once).
    std::vector<double> scratch(static_cast<size_t>(plan_.ScratchSize()));
    ComputeSmhWeights(plan_, inputs[0], inputs[1], inputs[2], inputs[3],
                      scratch.data(), outputs[0],
                      plan_.bias_size ? outputs[1] : nullptr);
  }


 private:
  bool parsed_ = false;
  std::string error_;
  SmhWeightsPlan plan_;
  OutputShape weights_;
  OutputShape bias_;
};

}  // namespace

OpKernel* CreateSmhWeightsKernel(const uint8_t* options, size_t length) {
  return new (std::nothrow) SmhWeightsKernel(options, length);
}

}  // namespace hk
