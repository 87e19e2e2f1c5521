// The registry of custom operators the delegate serves. To add an operator
// (e.g. `FreshWeights`, `SMHWeights`): implement an OpKernel, write a
// `Create...Kernel` factory and add one row to kOpKinds in op_registry.cc.
#ifndef HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_
#define HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

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

// Operators have at most this many inputs (Check refuses more).
constexpr int kMaxOpInputs = 8;

// The shape of one output as the operator's options define it.
struct OutputShape {
  static constexpr int kMaxRank = 4;
  int rank = 0;
  int64_t dims[kMaxRank] = {0, 0, 0, 0};
  uint64_t Count() const {
    uint64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= static_cast<uint64_t>(dims[i]);
    return n;
  }
};

// One custom operator. The delegate (delegate.cc) drives every operator the
// same way: Check in Prepare (and before each Eval), Compute once when all
// inputs are constant (outputs then become constant tensors the kernel owns,
// see delegate.cc), otherwise Compute at every invoke.
class OpKernel {
 public:
  virtual ~OpKernel() = default;
  // Validates the node against its options: number of inputs and outputs,
  // their types and exact dims. Does not look at tensor data. Returns "" and
  // fills `outputs` with each output's shape (all outputs are float32), or
  // returns what is wrong.
  virtual std::string Check(tfl::TfLiteContext* context, const NodeIo& node,
                            std::vector<OutputShape>* outputs) = 0;
  // Writes every output from the inputs, for a node that passed Check.
  // `inputs[i]` (i < kMaxOpInputs) is input i as float32 values (int8 shared
  // variables already dequantized; null for an absent input), `outputs[i]` holds
  // outputs[i].Count() floats.
  virtual void Compute(const float* const* inputs, float* const* outputs) = 0;
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
std::string ShapeString(const int64_t* shape, int rank);
// "float32 [2, 3]": a tensor's type and dims, for messages.
std::string TensorString(const tfl::TfLiteTensor* tensor);
// The TfLiteType's name ("float32", "int8", ...).
const char* TypeName(int type);
// Bytes of one element of a TfLiteType, or 0 for types the kernels never read.
size_t TypeSize(int type);
// Whether `tensor` is `type` with exactly the dims `shape`.
bool HasTypeAndDims(const tfl::TfLiteTensor* tensor, int type,
                    const int64_t* shape, int rank);
inline bool IsFloat32WithDims(const tfl::TfLiteTensor* tensor,
                              const int64_t* shape, int rank) {
  return HasTypeAndDims(tensor, tfl::kTfLiteFloat32, shape, rank);
}
// A shared variable (buckets, SMH factors) is float32, or int8 with a
// per-tensor scale (finite, > 0) and zero point 0, dequantized by the delegate
// before Compute (docs/tflite_format.md, "int8 shared variables").
bool IsSharedVariable(const tfl::TfLiteTensor* tensor, const int64_t* shape,
                      int rank);
// "float32 or int8 [2, 3]" plus why an int8 tensor's quantization is refused.
std::string SharedVariableProblem(const tfl::TfLiteTensor* tensor,
                                  const int64_t* shape, int rank);
// Checks of the inputs most weight operators share, returning "" or what is
// wrong: input 0 is the float32 [k] buckets; input 1, if present and not
// optional, the float32 [out] per-output-channel scale; at most 2 inputs.
std::string CheckBucketsAndScale(tfl::TfLiteContext* context,
                                 const NodeIo& node, uint64_t k,
                                 uint64_t out);
// Output `index` exists and is float32 of exactly `shape`; `what` names it
// and its origin in the message ("weights", "kernel_shape [3, 3, 2, 4]").
std::string CheckOutput(tfl::TfLiteContext* context, const NodeIo& node,
                        int index, const OutputShape& shape,
                        const std::string& what, const std::string& origin);
// Whether the tensor's data holds all the elements its type and dims declare.
bool HasDataForDims(const tfl::TfLiteTensor* tensor);
// Resizes `tensor` to `shape` (the runtime takes ownership of the array).
tfl::TfLiteStatus ResizeTo(tfl::TfLiteContext* context,
                           tfl::TfLiteTensor* tensor, const int64_t* shape,
                           int rank);

// Factories of the registered operators.
OpKernel* CreateHashedWeightsKernel(const uint8_t* options, size_t length);
OpKernel* CreateFreshWeightsKernel(const uint8_t* options, size_t length);
OpKernel* CreateSmhWeightsKernel(const uint8_t* options, size_t length);

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_
