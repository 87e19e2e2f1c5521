// The TFLite kernel of `HashedWeights` (served by the delegate, delegate.cc):
// validation of the node against its options, and the compute call.
#include <new>
#include <string>
#include <vector>

#include "hashed_weights.h"
#include "op_registry.h"
#include "tflite_abi.h"

namespace hk {
namespace {

using tfl::TfLiteContext;
using tfl::TfLiteTensor;

class HashedWeightsKernel : public OpKernel {
 public:
  HashedWeightsKernel(const uint8_t* options, size_t length) {
    parsed_ = ParseHashedWeightsOptions(options, length, &plan_, &error_);
    if (parsed_) {
      weights_.rank = plan_.OutputRank();
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
    std::string error =
        CheckBucketsAndScale(context, node, plan_.num_buckets, plan_.out);
    if (!error.empty()) return error;
    const int want_outputs = plan_.hash_bias ? 2 : 1;
    if (node.num_outputs != want_outputs) {
      return Format("has %d outputs; expected %d (hash_bias is %s)",
                    node.num_outputs, want_outputs,
                    plan_.hash_bias ? "true" : "false");
    }
    error = CheckOutput(
        context, node, 0, weights_, "weights",
        "kernel_shape " + ShapeString(plan_.kernel_shape, plan_.rank) +
            ", layout '" + (plan_.layout == Layout::kFc ? "fc" : "ohwi") +
            "'");
    if (!error.empty()) return error;
    outputs->assign(1, weights_);
    if (plan_.hash_bias) {
      error = CheckOutput(context, node, 1, bias_, "bias", "key 'bias_size'");
      if (!error.empty()) return error;
      outputs->push_back(bias_);
    }
    return "";
  }

  OpCost Cost() const override {
    OpCost cost;
    if (!parsed_) return cost;
    cost.virtual_weights = plan_.virtual_size;
    cost.output_bytes =
        (plan_.kernel_size + (plan_.hash_bias ? plan_.bias_size : 0)) *
        sizeof(float);
    cost.work = kUnitsPerHashedWeight * plan_.virtual_size;
    return cost;
  }

  void Compute(const float* const* inputs, float* const* outputs) override {
    ComputeHashedWeights(plan_, inputs[0], inputs[1], outputs[0],
                         plan_.hash_bias ? outputs[1] : nullptr);
  }


 private:
  bool parsed_ = false;
  std::string error_;
  HashedWeightsPlan plan_;
  OutputShape weights_;
  OutputShape bias_;
};

}  // namespace

OpKernel* CreateHashedWeightsKernel(const uint8_t* options, size_t length) {
  return new (std::nothrow) HashedWeightsKernel(options, length);
}

}  // namespace hk
