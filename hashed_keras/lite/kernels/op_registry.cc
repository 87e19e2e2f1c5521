#include "op_registry.h"

#include <stdlib.h>
#include <string.h>

namespace hk {
namespace {

const OpKind kOpKinds[] = {
    {"HashedWeights", &CreateHashedWeightsKernel, false},
    {"FreshWeights", &CreateFreshWeightsKernel, false},
    {"SMHWeights", &CreateSmhWeightsKernel, true},
};

}  // namespace

const OpKind* FindOpKind(const char* custom_name) {
  if (custom_name == nullptr) return nullptr;
  for (const OpKind& kind : kOpKinds) {
    if (strcmp(kind.custom_name, custom_name) == 0) return &kind;
  }
  return nullptr;
}

tfl::TfLiteTensor* TensorAt(tfl::TfLiteContext* context, int index) {
  if (context == nullptr || context->tensors == nullptr || index < 0 ||
      static_cast<size_t>(index) >= context->tensors_size) {
    return nullptr;
  }
  return &context->tensors[index];
}

std::string NodeMessage(tfl::TfLiteContext* context, const NodeIo& node,
                        const std::string& message) {
  const char* name = nullptr;
  if (node.num_outputs > 0) {
    const tfl::TfLiteTensor* t = TensorAt(context, node.outputs[0]);
    if (t != nullptr) name = t->name;
  }
  // The name comes from the file: printable characters, at most 120.
  std::string shown = name ? name : "?";
  if (shown.size() > 120) shown = shown.substr(0, 117) + "...";
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return std::string(node.op_name ? node.op_name : "?") + " node " +
         std::to_string(node.node_index) + " (output '" + shown +
         "'): " + message;
}

tfl::TfLiteStatus NodeError(tfl::TfLiteContext* context, const NodeIo& node,
                            const std::string& message) {
  // The runtime appends its own "Node number N ... failed to prepare": end
  // our message with a newline so the two stay apart.
  context->ReportError(context, "%s\n",
                       NodeMessage(context, node, message).c_str());
  return tfl::kTfLiteError;
}

std::string DimsString(const tfl::TfLiteIntArray* dims) {
  if (dims == nullptr) return "(none)";
  std::string s = "[";
  for (int i = 0; i < dims->size; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims->data[i]);
  }
  return s + "]";
}

std::string ShapeString(const int64_t* shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const char* TypeName(int type) {
  static const char* const kNames[] = {
      "no type", "float32", "int32", "uint8",     "int64", "string",
      "bool",    "int16",   "complex64", "int8", "float16", "float64"};
  if (type >= 0 && type < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) {
    return kNames[type];
  }
  return "another type";
}

size_t TypeSize(int type) {
  switch (type) {
    case tfl::kTfLiteFloat32:
    case tfl::kTfLiteInt32:
      return 4;
    case tfl::kTfLiteInt8:
    case tfl::kTfLiteUInt8:
      return 1;
    default:
      return 0;
  }
}

std::string TensorString(const tfl::TfLiteTensor* tensor) {
  return std::string(TypeName(tensor->type)) + " " + DimsString(tensor->dims);
}

bool HasTypeAndDims(const tfl::TfLiteTensor* tensor, int type,
                    const int64_t* shape, int rank) {
  if (tensor == nullptr || tensor->type != type || tensor->dims == nullptr ||
      tensor->dims->size != rank) {
    return false;
  }
  for (int i = 0; i < rank; ++i) {
    if (tensor->dims->data[i] != shape[i]) return false;
  }
  return true;
}

int64_t ElementCount(const tfl::TfLiteIntArray* dims) {
  if (dims == nullptr || dims->size < 0) return -1;
  int64_t count = 1;
  for (int i = 0; i < dims->size; ++i) {
    const int d = dims->data[i];
    if (d < 0) return -1;
    if (d != 0 && count > (int64_t{1} << 62) / d) return -1;
    count *= d;
  }
  return count;
}

Status CheckExactData(const tfl::TfLiteTensor* tensor) {
  HK_ENSURE(tensor != nullptr, "is missing");
  const int64_t count = ElementCount(tensor->dims);
  const size_t element = TypeSize(tensor->type);
  HK_ENSURE(count >= 0 && element != 0,
            "has invalid dims or type (" + TensorString(tensor) + ")");
  HK_ENSURE(tensor->data.raw != nullptr, "has no data");
  const uint64_t want = static_cast<uint64_t>(count) * element;
  HK_ENSURE(tensor->bytes == want,
            "holds " + std::to_string(tensor->bytes) + " bytes but its " +
                TensorString(tensor) + " needs " + std::to_string(want));
  return Status();
}

bool IsConstantTensor(const tfl::TfLiteTensor* tensor) {
  return tensor != nullptr &&
         (tensor->allocation_type == tfl::kTfLiteMmapRo ||
          tensor->allocation_type == tfl::kTfLitePersistentRo);
}

bool IsSharedVariable(const tfl::TfLiteTensor* tensor, const int64_t* shape,
                      int rank) {
  if (IsFloat32WithDims(tensor, shape, rank)) return true;
  if (!HasTypeAndDims(tensor, tfl::kTfLiteInt8, shape, rank)) return false;
  const float scale = tensor->params.scale;
  return scale > 0.0f && scale <= 3.0e38f && tensor->params.zero_point == 0;
}

std::string SharedVariableProblem(const tfl::TfLiteTensor* tensor,
                                  const int64_t* shape, int rank) {
  std::string got = TensorString(tensor);
  if (tensor->type == tfl::kTfLiteInt8) {
    got += " (scale " + std::to_string(tensor->params.scale) + ", zero point " +
           std::to_string(tensor->params.zero_point) + ")";
  }
  return "must be float32, or int8 with a per-tensor scale > 0 and zero point "
         "0, of shape " + ShapeString(shape, rank) + "; got " + got;
}

Status CheckBucketsAndScale(tfl::TfLiteContext* context, const NodeIo& node,
                            uint64_t k, uint64_t out) {
  HK_ENSURE(node.num_inputs >= 1 && node.num_inputs <= 2,
            "has " + std::to_string(node.num_inputs) +
                " inputs; expected 1 (buckets) or 2 (buckets, scale)");
  const tfl::TfLiteTensor* buckets = TensorAt(context, node.inputs[0]);
  HK_ENSURE(buckets != nullptr, "input 0 (buckets) is missing");
  const int64_t k_dim = static_cast<int64_t>(k);
  HK_ENSURE(IsSharedVariable(buckets, &k_dim, 1),
            "input 0 (buckets, key 'buckets') " +
                SharedVariableProblem(buckets, &k_dim, 1));
  if (node.num_inputs == 2 && node.inputs[1] != tfl::kTfLiteOptionalTensor) {
    const tfl::TfLiteTensor* scale = TensorAt(context, node.inputs[1]);
    const int64_t out_dim = static_cast<int64_t>(out);
    HK_ENSURE(scale != nullptr, "input 1 (scale) is missing");
    HK_ENSURE(IsFloat32WithDims(scale, &out_dim, 1),
              "input 1 (scale) must be float32 [" + std::to_string(out) +
                  "], got " + TensorString(scale));
  }
  return Status();
}

namespace {

// Output `index` exists and is float32 of exactly `shape`; `what` names it
// and its origin in the message ("weights", "kernel_shape [3, 3, 2, 4]").
Status CheckOutput(tfl::TfLiteContext* context, const NodeIo& node, int index,
                   const OutputShape& shape, const std::string& what,
                   const std::string& origin) {
  const std::string name =
      "output " + std::to_string(index) + " (" + what + ")";
  const tfl::TfLiteTensor* t = index < node.num_outputs
                                   ? TensorAt(context, node.outputs[index])
                                   : nullptr;
  HK_ENSURE(t != nullptr, name + " is missing");
  HK_ENSURE(IsFloat32WithDims(t, shape.dims, shape.rank),
            name + " must be float32 " + ShapeString(shape.dims, shape.rank) +
                " (" + origin + "), got " + TensorString(t));
  return Status();
}

}  // namespace

Status CheckWeightsOutputs(tfl::TfLiteContext* context, const NodeIo& node,
                           const KernelGeometry& kernel, uint64_t bias_size,
                           const std::string& count_why,
                           std::vector<OutputShape>* outputs) {
  const int want = bias_size ? 2 : 1;
  HK_ENSURE(node.num_outputs == want,
            Format("has %d outputs; expected %d (%s)", node.num_outputs, want,
                   count_why.c_str()));
  OutputShape weights;
  weights.rank = kernel.kernel_rank;
  for (int i = 0; i < weights.rank; ++i) weights.dims[i] = kernel.OutputDim(i);
  HK_RETURN_IF_ERROR(CheckOutput(
      context, node, 0, weights, "weights",
      "kernel_shape " + ShapeString(kernel.kernel_shape, kernel.kernel_rank) +
          ", layout '" + LayoutName(kernel.layout) + "'"));
  outputs->assign(1, weights);
  if (bias_size) {
    OutputShape bias;
    bias.rank = 1;
    bias.dims[0] = static_cast<int64_t>(bias_size);
    HK_RETURN_IF_ERROR(
        CheckOutput(context, node, 1, bias, "bias", "key 'bias_size'"));
    outputs->push_back(bias);
  }
  return Status();
}

tfl::TfLiteStatus ResizeTo(tfl::TfLiteContext* context,
                           tfl::TfLiteTensor* tensor, const int64_t* shape,
                           int rank) {
  // Allocated with malloc: the runtime releases it with TfLiteIntArrayFree.
  auto* dims = static_cast<tfl::TfLiteIntArray*>(
      malloc(sizeof(int) * (1 + static_cast<size_t>(rank))));
  if (dims == nullptr) return tfl::kTfLiteError;
  dims->size = rank;
  for (int i = 0; i < rank; ++i) dims->data[i] = static_cast<int>(shape[i]);
  return context->ResizeTensor(context, tensor, dims);
}

}  // namespace hk
