// The TFLite kernel of `FreshWeights` (served by the delegate, delegate.cc).
#include <new>
#include <string>
#include <vector>

#include "fresh_weights.h"
#include "op_registry.h"
#include "options.h"
#include "tflite_abi.h"

namespace hk {
namespace {

using tfl::TfLiteContext;
using tfl::TfLiteTensor;

class FreshWeightsKernel : public OpKernel {
 public:
  FreshWeightsKernel(const uint8_t* options, size_t length) {
    parsed_ = ParseFreshWeightsOptions(options, length, &plan_, &error_);
    if (parsed_) {
      weights_.rank = 4;
      for (int i = 0; i < 4; ++i) weights_.dims[i] = plan_.OutputDim(i);
    }
  }

  std::string Check(TfLiteContext* context, const NodeIo& node,
                    std::vector<OutputShape>* outputs) override {
    if (!parsed_) return "invalid custom options: " + error_;
    std::string error =
        CheckBucketsAndScale(context, node, plan_.num_buckets, plan_.out);
    if (!error.empty()) return error;
    if (node.num_outputs != 1) {
      return Format("has %d outputs; expected 1 (weights)", node.num_outputs);
    }
    error = CheckOutput(context, node, 0, weights_, "weights",
                        "kernel_shape " +
                            ShapeString(plan_.kernel_shape, 4) +
                            ", layout 'ohwi'");
    if (!error.empty()) return error;
    outputs->assign(1, weights_);
    return "";
  }

  OpCost Cost() const override {
    OpCost cost;
    if (!parsed_) return cost;
    cost.virtual_weights = plan_.kernel_size;
    cost.output_bytes = plan_.kernel_size * sizeof(float);
    // Per weight: its coefficient's hashes, then the separable inverse DCT
    // (kw + kh multiply-adds).
    cost.work = plan_.kernel_size *
                (kUnitsPerHashedWeight +
                 static_cast<uint64_t>(plan_.kernel_shape[0]) +
                 static_cast<uint64_t>(plan_.kernel_shape[1]));
    return cost;
  }

  void Compute(const float* const* inputs, float* const* outputs) override {
    ComputeFreshWeights(plan_, inputs[0], inputs[1], outputs[0]);
  }


 private:
  bool parsed_ = false;
  std::string error_;
  FreshWeightsPlan plan_;
  OutputShape weights_;
};

}  // namespace

OpKernel* CreateFreshWeightsKernel(const uint8_t* options, size_t length) {
  return new (std::nothrow) FreshWeightsKernel(options, length);
}

}  // namespace hk
