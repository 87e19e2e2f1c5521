// The TFLite kernel of `HashedWeights` (served by the delegate, delegate.cc).
#include <inttypes.h>

#include <new>
#include <string>

#include "hashed_weights.h"
#include "op_registry.h"
#include "tflite_abi.h"

namespace hk {
namespace {

using tfl::TfLiteContext;
using tfl::TfLiteIntArray;
using tfl::TfLiteStatus;
using tfl::TfLiteTensor;

bool IsConstant(const TfLiteTensor* t) {
  return t->allocation_type == tfl::kTfLiteMmapRo ||
         t->allocation_type == tfl::kTfLitePersistentRo;
}

bool DimsEqual(const TfLiteIntArray* dims, const int64_t* shape, int rank) {
  if (dims == nullptr || dims->size != rank) return false;
  for (int i = 0; i < rank; ++i) {
    if (dims->data[i] != shape[i]) return false;
  }
  return true;
}

std::string ShapeString(const int64_t* shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// TfLiteType names, for messages.
const char* TypeName(int type) {
  static const char* const kNames[] = {
      "no type", "float32", "int32", "uint8",   "int64", "string",
      "bool",    "int16",   "complex64", "int8", "float16", "float64"};
  if (type >= 0 && type < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) {
    return kNames[type];
  }
  return "another type";
}

// Holds enough float32 data for `count` elements.
bool HasFloatData(const TfLiteTensor* t, uint64_t count) {
  return t->data.raw != nullptr && count <= SIZE_MAX / sizeof(float) &&
         t->bytes >= count * sizeof(float);
}

class HashedWeightsKernel : public OpKernel {
 public:
  HashedWeightsKernel(const uint8_t* options, size_t length) {
    parsed_ = ParseHashedWeightsOptions(options, length, &plan_, &error_);
    if (parsed_) {
      weights_rank_ = plan_.OutputRank();
      for (int i = 0; i < weights_rank_; ++i) {
        weights_shape_[i] = plan_.OutputDim(i);
      }
      bias_shape_[0] = static_cast<int64_t>(plan_.bias_size);
    }
  }

  TfLiteStatus Prepare(TfLiteContext* context, const NodeIo& node) override {
    if (!parsed_) {
      return NodeError(context, node, "invalid custom options: " + error_);
    }
    if (node.num_inputs < 1 || node.num_inputs > 2) {
      return NodeError(context, node, Format(
          "has %d inputs; expected 1 (buckets) or 2 (buckets, scale)",
          node.num_inputs));
    }
    const int want_outputs = plan_.hash_bias ? 2 : 1;
    if (node.num_outputs != want_outputs) {
      return NodeError(context, node, Format(
          "has %d outputs; expected %d (hash_bias is %s)", node.num_outputs,
          want_outputs, plan_.hash_bias ? "true" : "false"));
    }

    TfLiteTensor* buckets = TensorAt(context, node.inputs[0]);
    if (buckets == nullptr) {
      return NodeError(context, node, "input 0 (buckets) is missing");
    }
    const int64_t k = static_cast<int64_t>(plan_.num_buckets);
    if (buckets->type != tfl::kTfLiteFloat32 ||
        !DimsEqual(buckets->dims, &k, 1)) {
      return NodeError(context, node, Format(
          "input 0 (buckets) must be float32 [%" PRId64 "] (key 'buckets'), "
          "got %s %s", k, TypeName(buckets->type),
          DimsString(buckets->dims).c_str()));
    }
    TfLiteTensor* scale = nullptr;
    if (node.num_inputs == 2 && node.inputs[1] != tfl::kTfLiteOptionalTensor) {
      scale = TensorAt(context, node.inputs[1]);
      const int64_t out = static_cast<int64_t>(plan_.out);
      if (scale == nullptr) {
        return NodeError(context, node, "input 1 (scale) is missing");
      }
      if (scale->type != tfl::kTfLiteFloat32 ||
          !DimsEqual(scale->dims, &out, 1)) {
        return NodeError(context, node, Format(
            "input 1 (scale) must be float32 [%" PRId64 "], got %s "
            "%s", out, TypeName(scale->type),
            DimsString(scale->dims).c_str()));
      }
    }

    TfLiteTensor* weights = TensorAt(context, node.outputs[0]);
    if (weights == nullptr) {
      return NodeError(context, node, "output 0 (weights) is missing");
    }
    if (weights->type != tfl::kTfLiteFloat32 ||
        !DimsEqual(weights->dims, weights_shape_, weights_rank_)) {
      return NodeError(context, node, Format(
          "output 0 (weights) must be float32 %s (kernel_shape %s, layout "
          "'%s'), got %s %s",
          ShapeString(weights_shape_, weights_rank_).c_str(),
          ShapeString(plan_.kernel_shape, plan_.rank).c_str(),
          plan_.layout == Layout::kFc ? "fc" : "ohwi",
          TypeName(weights->type),
          DimsString(weights->dims).c_str()));
    }
    TfLiteTensor* bias = nullptr;
    if (plan_.hash_bias) {
      bias = TensorAt(context, node.outputs[1]);
      if (bias == nullptr) {
        return NodeError(context, node, "output 1 (bias) is missing");
      }
      if (bias->type != tfl::kTfLiteFloat32 ||
          !DimsEqual(bias->dims, bias_shape_, 1)) {
        return NodeError(context, node, Format(
            "output 1 (bias) must be float32 [%" PRIu64 "] (key 'bias_size')"
            ", got %s %s", plan_.bias_size,
            TypeName(bias->type), DimsString(bias->dims).c_str()));
      }
    }

    constant_ = IsConstant(buckets) && (scale == nullptr || IsConstant(scale));
    if (!constant_) {
      // Recomputed at every invoke, into arena memory.
      computed_ = false;
      if (ResizeTo(context, weights, weights_shape_, weights_rank_) !=
              tfl::kTfLiteOk ||
          (bias && ResizeTo(context, bias, bias_shape_, 1) != tfl::kTfLiteOk)) {
        return NodeError(context, node, "could not resize the outputs");
      }
      return tfl::kTfLiteOk;
    }

    // Constant inputs: compute once now, into persistent read-only outputs.
    if (computed_ && IsReady(weights, plan_.kernel_size) &&
        (bias == nullptr || IsReady(bias, plan_.bias_size))) {
      return tfl::kTfLiteOk;
    }
    if (!HasFloatData(buckets, plan_.num_buckets) ||
        (scale && !HasFloatData(scale, plan_.out))) {
      return NodeError(context, node, "constant input has no data or too few "
                                      "bytes");
    }
    if (MakePersistent(context, weights, weights_shape_, weights_rank_) !=
            tfl::kTfLiteOk ||
        (bias && MakePersistent(context, bias, bias_shape_, 1) !=
                     tfl::kTfLiteOk)) {
      return NodeError(context, node, "could not allocate the outputs");
    }
    if (!HasFloatData(weights, plan_.kernel_size) ||
        (bias && !HasFloatData(bias, plan_.bias_size))) {
      return NodeError(context, node, "outputs were not allocated");
    }
    ComputeHashedWeights(plan_, buckets->data.f, scale ? scale->data.f : nullptr,
                         weights->data.f, bias ? bias->data.f : nullptr);
    computed_ = true;
    return tfl::kTfLiteOk;
  }

  TfLiteStatus Eval(TfLiteContext* context, const NodeIo& node) override {
    if (constant_ && computed_) return tfl::kTfLiteOk;
    if (!parsed_) {
      return NodeError(context, node, "invalid custom options: " + error_);
    }
    if (node.num_inputs < 1 || node.num_inputs > 2 ||
        node.num_outputs != (plan_.hash_bias ? 2 : 1)) {
      return NodeError(context, node, "inputs or outputs changed since Prepare");
    }
    TfLiteTensor* buckets = TensorAt(context, node.inputs[0]);
    TfLiteTensor* scale =
        node.num_inputs == 2 ? TensorAt(context, node.inputs[1]) : nullptr;
    TfLiteTensor* weights = TensorAt(context, node.outputs[0]);
    TfLiteTensor* bias =
        plan_.hash_bias ? TensorAt(context, node.outputs[1]) : nullptr;
    if (buckets == nullptr || weights == nullptr ||
        (plan_.hash_bias && bias == nullptr) ||
        !HasFloatData(buckets, plan_.num_buckets) ||
        (scale && !HasFloatData(scale, plan_.out)) ||
        !HasFloatData(weights, plan_.kernel_size) ||
        (bias && !HasFloatData(bias, plan_.bias_size))) {
      return NodeError(context, node, "tensors were not allocated (call "
                                      "allocate_tensors first)");
    }
    ComputeHashedWeights(plan_, buckets->data.f, scale ? scale->data.f : nullptr,
                         weights->data.f, bias ? bias->data.f : nullptr);
    return tfl::kTfLiteOk;
  }

 private:
  static bool IsReady(const TfLiteTensor* t, uint64_t count) {
    return t->allocation_type == tfl::kTfLitePersistentRo &&
           HasFloatData(t, count);
  }

  static TfLiteStatus MakePersistent(TfLiteContext* context, TfLiteTensor* t,
                                     const int64_t* shape, int rank) {
    if (t->allocation_type != tfl::kTfLitePersistentRo) {
      t->allocation_type = tfl::kTfLitePersistentRo;
      t->data.raw = nullptr;  // any arena pointer is not ours to keep
    }
    return ResizeTo(context, t, shape, rank);
  }

  bool parsed_ = false;
  std::string error_;
  HashedWeightsPlan plan_;
  int64_t weights_shape_[4] = {0, 0, 0, 0};
  int weights_rank_ = 0;
  int64_t bias_shape_[1] = {0};
  bool constant_ = false;
  bool computed_ = false;
};

}  // namespace

OpKernel* CreateHashedWeightsKernel(const uint8_t* options, size_t length) {
  return new (std::nothrow) HashedWeightsKernel(options, length);
}

}  // namespace hk
