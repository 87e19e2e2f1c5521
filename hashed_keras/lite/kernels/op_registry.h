// The registry of custom operators the delegate serves. To add an operator
// (e.g. `FreshWeights`, `SMHWeights`): describe it for WeightsKernel
// (weights_kernel.h), write a `Create...Kernel` factory and add one row to
// kOpKinds in op_registry.cc.
#ifndef HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_
#define HASHED_KERAS_LITE_KERNELS_OP_REGISTRY_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "options.h"
#include "status.h"
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

// Operators have at most this many inputs and outputs (the delegate refuses
// a node with more before any operator looks at it).
constexpr int kMaxOpInputs = 8;
constexpr int kMaxOpOutputs = 4;

// What rebuilding one node costs, from its validated options alone (the
// delegate checks the totals over its nodes against HkLimits;
// docs/tflite_format.md, "Limits").
struct OpCost {
  uint64_t virtual_weights = 0;  // weights (and hashed biases) rebuilt
  uint64_t output_bytes = 0;     // the rebuilt outputs
  uint64_t scratch_bytes = 0;    // transient memory of one Compute
  // Work units of one Compute, about a nanosecond each: one unit is one
  // multiply-add in double, a hashed weight (two xxh32 and a modulo) counts
  // kUnitsPerHashedWeight. HashedWeights: 16 per virtual weight;
  // FreshWeights: 16 + kh + kw per weight (hashes, then the separable inverse
  // DCT); SMHWeights: rank per covered position of M-hat plus 4 per weight
  // (the transpose).
  uint64_t work = 0;
};

constexpr uint64_t kUnitsPerHashedWeight = 16;
// The work of all nodes together may be at most this many units per allowed
// virtual weight: 16 x max_virtual_weights (2^30 units by default, about 1-2 s
// on one core).
constexpr uint64_t kWorkPerVirtualWeight = 16;

// The shape of one output as the operator's options define it.
struct OutputShape {
  static constexpr int kMaxRank = 4;
  int rank = 0;
  int64_t dims[kMaxRank] = {0, 0, 0, 0};
  // The number of elements (saturating at UINT64_MAX; operators validate
  // dims in [1, INT32_MAX] with a product <= 2^32).
  uint64_t Count() const {
    uint64_t n = 1;
    for (int i = 0; i < rank; ++i) {
      if (dims[i] < 0) return 0;
      const uint64_t d = static_cast<uint64_t>(dims[i]);
      if (d != 0 && n > UINT64_MAX / d) return UINT64_MAX;
      n *= d;
    }
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
  // The result of parsing the node's custom options (the kernel parses them
  // once, when created); if they parsed, Geometry() is the kernel they
  // describe (its layout: which builtin may read the weights).
  virtual Status ParsedOptions() const = 0;
  // Validates the node against its options: number of inputs and outputs,
  // their types and exact dims. Does not look at tensor data. Fills `outputs`
  // with each output's shape (all outputs are float32), or returns what is
  // wrong.
  virtual Status Check(tfl::TfLiteContext* context, const NodeIo& node,
                       std::vector<OutputShape>* outputs) = 0;
  // What Compute costs (zero if the options are invalid: Check reports
  // them).
  virtual OpCost Cost() const = 0;
  // Writes every output from the inputs, for a node that passed Check.
  // `inputs[i]` (i < kMaxOpInputs) is input i as float32 values (int8 shared
  // variables already dequantized; null for an absent input), `outputs[i]` holds
  // outputs[i].Count() floats. May throw std::bad_alloc (scratch memory).
  virtual void Compute(const float* const* inputs, float* const* outputs) = 0;

  // On the fly (docs/tflite_format.md, "On the fly"): whether this node's
  // weights ([O, R], either layout) can be made a tile at a time, by the two
  // functions below, for a FULLY_CONNECTED or CONV_2D node that then needs
  // no buffer of all of them. False for an operator without them or
  // invalid options.
  virtual bool Streams() const = 0;
  // Rows [o0, o1) x columns [r0, r1) of output 0 into `tile` (row-major,
  // r1 - r0 floats per row): exactly the values Compute writes there.
  // Only if Streams(); same inputs as Compute.
  virtual void ComputeTile(const float* const* inputs, uint64_t o0,
                           uint64_t o1, uint64_t r0, uint64_t r1,
                           float* tile) const = 0;
  // Output 1 (the bias, if the node has one) alone, as Compute writes it.
  virtual void ComputeBias(const float* const* inputs, float* bias) const = 0;
  // The kernel the options describe (valid if ParsedOptions() is OK).
  virtual const KernelGeometry& Geometry() const = 0;
};

struct OpKind {
  const char* custom_name;
  // Builds a kernel from the node's custom options. Must not fail on bad
  // options (it keeps the error and reports it from Prepare); returns null
  // only when out of memory.
  OpKernel* (*create)(const uint8_t* options, size_t length);
  // Inputs 0 and 1 are shared by every node of this kind (SMH's U and V);
  // any other input belongs to its node alone.
  bool shares_inputs_0_1;
};

// The operator registered under `custom_name`, or null.
const OpKind* FindOpKind(const char* custom_name);

// Helpers for kernels.
// The tensor at `index`, or null if the index is out of range / optional.
tfl::TfLiteTensor* TensorAt(tfl::TfLiteContext* context, int index);
// "<op> node <i> (output '<name>'): <message>".
std::string NodeMessage(tfl::TfLiteContext* context, const NodeIo& node,
                        const std::string& message);
// Reports NodeMessage(...) and returns kTfLiteError.
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
// Checks of the inputs of the hashing operators: input 0 is the buckets, a
// shared variable [k]; input 1, if present and not optional, the float32
// [out] per-output-channel scale; at most 2 inputs.
Status CheckBucketsAndScale(tfl::TfLiteContext* context, const NodeIo& node,
                            uint64_t k, uint64_t out);
// Checks the outputs of a weights operator and fills `outputs`: output 0 is
// the float32 weights of `kernel` in its layout; output 1, iff `bias_size`,
// the float32 [bias_size] bias. `count_why` completes "has N outputs;
// expected M (<count_why>)".
Status CheckWeightsOutputs(tfl::TfLiteContext* context, const NodeIo& node,
                           const KernelGeometry& kernel, uint64_t bias_size,
                           const std::string& count_why,
                           std::vector<OutputShape>* outputs);
// The number of elements of `dims` (1 for a scalar), or -1 if dims is null,
// has a negative size or dimension, or the product overflows 2^62.
int64_t ElementCount(const tfl::TfLiteIntArray* dims);
// The tensor has data (non-null) of exactly the bytes its type and dims
// declare; the error says what is wrong ("has no data", ...).
Status CheckExactData(const tfl::TfLiteTensor* tensor);
// Whether a tensor is a constant of the model file (kTfLiteMmapRo) or was
// made read-only by a delegate (kTfLitePersistentRo).
bool IsConstantTensor(const tfl::TfLiteTensor* tensor);
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
