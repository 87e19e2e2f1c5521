// The registry of custom operators the delegate serves. To add an operator
// (e.g. `FreshWeights`, `SMHWeights`): implement an OpKernel, write a
// `Create...Kernel` factory and add one row to kOpKinds in op_registry.cc.
#ifndef HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_
#define HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "tflite_abi.h"

namespace hk {

// One original node as the delegate kernel saw it in Init (its tensor
// indices are copied: the runtime's node may not be reachable later).
struct NodeIo {
  int node_index = -1;
  const char* op_name = "";
  const int* inputs = nullptr;
  int num_inputs = 0;
  const int* outputs = nullptr;
  int num_outputs = 0;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  // Validates shapes and types; may compute constant outputs. Called at
  // every allocate_tensors().
  virtual tfl::TfLiteStatus Prepare(tfl::TfLiteContext* context,
                                    const NodeIo& node) = 0;
  virtual tfl::TfLiteStatus Eval(tfl::TfLiteContext* context,
                                 const NodeIo& node) = 0;
};

struct OpKind {
  const char* custom_name;
  // Builds a kernel from the node's custom options. Must not fail on bad
  // options (it keeps the error and reports it from Prepare); returns null
  // only when out of memory.
  OpKernel* (*create)(const uint8_t* options, size_t length);
};

// The operator registered under `custom_name`, or null.
const OpKind* FindOpKind(const char* custom_name);

// Helpers for kernels.
// The tensor at `index`, or null if the index is out of range / optional.
tfl::TfLiteTensor* TensorAt(tfl::TfLiteContext* context, int index);
// Reports "<op> node <i> (output '<name>'): <message>" and returns kTfLiteError.
tfl::TfLiteStatus NodeError(tfl::TfLiteContext* context, const NodeIo& node,
                            const std::string& message);
// "[2, 3]" (or "[]" / "(none)").
std::string DimsString(const tfl::TfLiteIntArray* dims);
// Resizes `tensor` to `shape` (the runtime takes ownership of the array).
tfl::TfLiteStatus ResizeTo(tfl::TfLiteContext* context,
                           tfl::TfLiteTensor* tensor, const int64_t* shape,
                           int rank);

// Factories of the registered operators.
OpKernel* CreateHashedWeightsKernel(const uint8_t* options, size_t length);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_
