// The TFLite kernel of `HashedWeights` (served by the delegate, delegate.cc):
// validation of the node against its options, and the compute call.
#include <inttypes.h>

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
    if (node.num_inputs < 1 || node.num_inputs > 2) {
      return Format("has %d inputs; expected 1 (buckets) or 2 (buckets, scale)",
                    node.num_inputs);
    }
    const int want_outputs = plan_.hash_bias ? 2 : 1;
    if (node.num_outputs != want_outputs) {
      return Format("has %d outputs; expected %d (hash_bias is %s)",
                    node.num_outputs, want_outputs,
                    plan_.hash_bias ? "true" : "false");
    }
    const TfLiteTensor* buckets = TensorAt(context, node.inputs[0]);
    if (buckets == nullptr) return "input 0 (buckets) is missing";
    const int64_t k = static_cast<int64_t>(plan_.num_buckets);
    if (!IsFloat32WithDims(buckets, &k, 1)) {
      return Format("input 0 (buckets) must be float32 [%" PRId64 "] (key "
                    "'buckets'), got %s", k, TensorString(buckets).c_str());
    }
    if (node.num_inputs == 2 && node.inputs[1] != tfl::kTfLiteOptionalTensor) {
      const TfLiteTensor* scale = TensorAt(context, node.inputs[1]);
      const int64_t out = static_cast<int64_t>(plan_.out);
      if (scale == nullptr) return "input 1 (scale) is missing";
      if (!IsFloat32WithDims(scale, &out, 1)) {
        return Format("input 1 (scale) must be float32 [%" PRId64 "], got %s",
                      out, TensorString(scale).c_str());
      }
    }
    const TfLiteTensor* weights = TensorAt(context, node.outputs[0]);
    if (weights == nullptr) return "output 0 (weights) is missing";
    if (!IsFloat32WithDims(weights, weights_.dims, weights_.rank)) {
      return Format(
          "output 0 (weights) must be float32 %s (kernel_shape %s, layout "
          "'%s'), got %s",
          ShapeString(weights_.dims, weights_.rank).c_str(),
          ShapeString(plan_.kernel_shape, plan_.rank).c_str(),
          plan_.layout == Layout::kFc ? "fc" : "ohwi",
          TensorString(weights).c_str());
    }
    outputs->assign(1, weights_);
    if (plan_.hash_bias) {
      const TfLiteTensor* bias = TensorAt(context, node.outputs[1]);
      if (bias == nullptr) return "output 1 (bias) is missing";
      if (!IsFloat32WithDims(bias, bias_.dims, 1)) {
        return Format("output 1 (bias) must be float32 [%" PRIu64 "] (key "
                      "'bias_size'), got %s", plan_.bias_size,
                      TensorString(bias).c_str());
      }
      outputs->push_back(bias_);
    }
    return "";
  }

  void Compute(TfLiteContext* context, const NodeIo& node,
               float* const* outputs) override {
    const TfLiteTensor* buckets = TensorAt(context, node.inputs[0]);
    const TfLiteTensor* scale =
        node.num_inputs == 2 ? TensorAt(context, node.inputs[1]) : nullptr;
    ComputeHashedWeights(plan_, buckets->data.f,
                         scale ? scale->data.f : nullptr, outputs[0],
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
