#include "op_registry.h"

#include <stdlib.h>
#include <string.h>

namespace hk {
namespace {

const OpKind kOpKinds[] = {
    {"HashedWeights", &CreateHashedWeightsKernel},
    // {"FreshWeights", &CreateFreshWeightsKernel},
    // {"SMHWeights", &CreateSmhWeightsKernel},
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

tfl::TfLiteStatus NodeError(tfl::TfLiteContext* context, const NodeIo& node,
                            const std::string& message) {
  const char* name = nullptr;
  if (node.num_outputs > 0) {
    const tfl::TfLiteTensor* t = TensorAt(context, node.outputs[0]);
    if (t != nullptr) name = t->name;
  }
  context->ReportError(context, "%s node %d (output '%s'): %s", node.op_name,
                       node.node_index, name ? name : "?", message.c_str());
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
