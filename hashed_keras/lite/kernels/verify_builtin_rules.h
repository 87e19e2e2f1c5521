// What the verifier requires of a builtin operator's wiring before the
// runtime (its kernels' Prepare, or XNNPACK's node visitors, which read a
// node's inputs and outputs before any Prepare runs) sees it:
//
//  - the number of inputs and outputs each builtin accepts (from the builtin
//    kernels' Prepare in LiteRT v2.2.0 tflite/kernels/*.cc, e.g.
//    strided_slice.cc: NumInputs == 4, NumOutputs == 1). Listed: the builtins
//    lite.convert emits and those a changed opcode most likely turns them
//    into; a builtin not listed has no count check here (the runtime's
//    Prepare still checks it);
//  - which input positions may be -1 (an absent optional input): only those
//    a kernel reads with GetOptionalInputTensor or tests against
//    kTfLiteOptionalTensor (bias of the convolutions and FULLY_CONNECTED, the
//    optional tensors of the LSTM/RNN/SVDF families, PAD's constant values).
//    Everywhere else the kernels (and XNNPACK) index the tensor array with
//    the -1: refused. CUSTOM operators may have -1 inputs (ours are checked
//    by their kernels' Check; other custom operators are unresolved).
//
// The options union member each builtin's parser reads is generated:
// schema/builtin_options_table.h.
#ifndef HASHED_KERAS_LITE_KERNELS_VERIFY_BUILTIN_RULES_H_
#define HASHED_KERAS_LITE_KERNELS_VERIFY_BUILTIN_RULES_H_

#include <cstdint>
#include <string>

#include "schema/schema_generated.h"

namespace hk {

constexpr int kAnyCount = 1 << 30;

// Bits of input positions (< 64) that may be -1.
constexpr uint64_t Bit(int i) { return uint64_t{1} << i; }
constexpr uint64_t kAllOptional = ~uint64_t{0};
// tflite/kernels/lstm_shared.h: input_to_input (1), recurrent_to_input (5),
// the three peepholes (9..11), input gate bias (12), projection weights and
// bias (16, 17), the four layer-norm coefficients (20..23).
constexpr uint64_t kLstmOptional = Bit(1) | Bit(5) | Bit(9) | Bit(10) |
                                   Bit(11) | Bit(12) | Bit(16) | Bit(17) |
                                   Bit(20) | Bit(21) | Bit(22) | Bit(23);

struct BuiltinArity {
  tflite::BuiltinOperator op;
  int min_inputs, max_inputs;
  int min_outputs, max_outputs;
  uint64_t optional_inputs;  // positions that may be -1
};

constexpr BuiltinArity kBuiltinArities[] = {
    // What lite.convert emits.
    {tflite::BuiltinOperator_CONV_2D, 2, 3, 1, 1, Bit(2)},
    {tflite::BuiltinOperator_FULLY_CONNECTED, 2, 3, 1, 2, Bit(2)},
    {tflite::BuiltinOperator_MAX_POOL_2D, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_PACK, 1, kAnyCount, 1, 1, 0},
    {tflite::BuiltinOperator_RESHAPE, 1, 2, 1, 1, 0},
    {tflite::BuiltinOperator_SHAPE, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_SOFTMAX, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_STRIDED_SLICE, 4, 4, 1, 1, 0},
    {tflite::BuiltinOperator_QUANTIZE, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_DEQUANTIZE, 1, 1, 1, 1, 0},
    // Convolutions and pools.
    {tflite::BuiltinOperator_DEPTHWISE_CONV_2D, 2, 3, 1, 1, Bit(2)},
    {tflite::BuiltinOperator_CONV_3D, 2, 3, 1, 1, Bit(2)},
    {tflite::BuiltinOperator_TRANSPOSE_CONV, 3, 4, 1, 1, Bit(3)},
    {tflite::BuiltinOperator_AVERAGE_POOL_2D, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_L2_POOL_2D, 1, 1, 1, 1, 0},
    // Element-wise, one input.
    {tflite::BuiltinOperator_ABS, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_CAST, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_CEIL, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_COS, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_ELU, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_EXP, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_FLOOR, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_HARD_SWISH, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_L2_NORMALIZATION, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_LEAKY_RELU, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_LOCAL_RESPONSE_NORMALIZATION, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_LOG, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_LOG_SOFTMAX, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_LOGICAL_NOT, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_LOGISTIC, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_NEG, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_RELU, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_RELU6, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_RELU_N1_TO_1, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_RELU_0_TO_1, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_ROUND, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_RSQRT, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_SIN, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_SQRT, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_SQUARE, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_SQUEEZE, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_TANH, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_ZEROS_LIKE, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_DEPTH_TO_SPACE, 1, 1, 1, 1, 0},
    {tflite::BuiltinOperator_SPACE_TO_DEPTH, 1, 1, 1, 1, 0},
    // Two inputs.
    {tflite::BuiltinOperator_ADD, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_SUB, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_MUL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_DIV, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_POW, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_FLOOR_DIV, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_FLOOR_MOD, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_MAXIMUM, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_MINIMUM, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_SQUARED_DIFFERENCE, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_PRELU, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_EQUAL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_NOT_EQUAL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_LESS, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_LESS_EQUAL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_GREATER, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_GREATER_EQUAL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_LOGICAL_AND, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_LOGICAL_OR, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_ARG_MAX, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_ARG_MIN, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_BATCH_MATMUL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_BROADCAST_TO, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_CUMSUM, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_EXPAND_DIMS, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_FILL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_GATHER, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_GATHER_ND, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_MIRROR_PAD, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_RESIZE_BILINEAR, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_REVERSE_V2, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_TILE, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_TRANSPOSE, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_TOPK_V2, 2, 2, 2, 2, 0},
    {tflite::BuiltinOperator_MEAN, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_SUM, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_REDUCE_MAX, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_REDUCE_MIN, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_REDUCE_PROD, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_REDUCE_ANY, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_REDUCE_ALL, 2, 2, 1, 1, 0},
    {tflite::BuiltinOperator_PAD, 2, 3, 1, 1, Bit(2)},
    {tflite::BuiltinOperator_PADV2, 2, 3, 1, 1, Bit(2)},
    // Three or more inputs; several outputs.
    {tflite::BuiltinOperator_SLICE, 3, 3, 1, 1, 0},
    {tflite::BuiltinOperator_SELECT, 3, 3, 1, 1, 0},
    {tflite::BuiltinOperator_SELECT_V2, 3, 3, 1, 1, 0},
    {tflite::BuiltinOperator_BATCH_TO_SPACE_ND, 3, 3, 1, 1, 0},
    {tflite::BuiltinOperator_SPACE_TO_BATCH_ND, 3, 3, 1, 1, 0},
    {tflite::BuiltinOperator_ONE_HOT, 4, 4, 1, 1, 0},
    {tflite::BuiltinOperator_CONCATENATION, 1, kAnyCount, 1, 1, 0},
    {tflite::BuiltinOperator_ADD_N, 2, kAnyCount, 1, 1, 0},
    {tflite::BuiltinOperator_SPLIT, 2, 2, 1, kAnyCount, 0},
    {tflite::BuiltinOperator_SPLIT_V, 3, 3, 1, kAnyCount, 0},
    {tflite::BuiltinOperator_UNPACK, 1, 1, 1, kAnyCount, 0},
    // Recurrent families: their documented optional inputs.
    {tflite::BuiltinOperator_LSTM, 5, 24, 1, 4, kLstmOptional},
    {tflite::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_LSTM, 20, 24, 1, 1,
     kLstmOptional},
    {tflite::BuiltinOperator_BIDIRECTIONAL_SEQUENCE_LSTM, 1, kAnyCount, 1,
     kAnyCount, kAllOptional},
    {tflite::BuiltinOperator_RNN, 5, 5, 1, 1, 0},
    {tflite::BuiltinOperator_UNIDIRECTIONAL_SEQUENCE_RNN, 5, 5, 1, 1, 0},
    // bidirectional_sequence_rnn.cc: the auxiliary input and weights.
    {tflite::BuiltinOperator_BIDIRECTIONAL_SEQUENCE_RNN, 9, 12, 1, 2,
     Bit(9) | Bit(10) | Bit(11)},
    {tflite::BuiltinOperator_SVDF, 5, 5, 1, 1, Bit(3)},
    // CUSTOM: any count, any input may be absent (see above).
    {tflite::BuiltinOperator_CUSTOM, 0, kAnyCount, 0, kAnyCount,
     kAllOptional},
};

// The wiring rule of a builtin code, or nullptr (no count check).
inline const BuiltinArity* FindBuiltinArity(int code) {
  for (const BuiltinArity& a : kBuiltinArities) {
    if (static_cast<int>(a.op) == code) return &a;
  }
  return nullptr;
}

// Whether the counts of a node fit rule `a` (nullptr: any count fits).
inline bool CountsFit(const BuiltinArity* a, int num_inputs, int num_outputs) {
  return a == nullptr ||
         (num_inputs >= a->min_inputs && num_inputs <= a->max_inputs &&
          num_outputs >= a->min_outputs && num_outputs <= a->max_outputs);
}

// "N", "N..M" or "at least N" for a message.
inline std::string CountRange(int lo, int hi) {
  if (hi >= kAnyCount) return "at least " + std::to_string(lo);
  if (lo == hi) return std::to_string(lo);
  return std::to_string(lo) + ".." + std::to_string(hi);
}

// Whether input `i` of a node of rule `a` may be -1 (nullptr: none may).
inline bool InputMayBeAbsent(const BuiltinArity* a, int i) {
  const uint64_t optional = a != nullptr ? a->optional_inputs : 0;
  return i < 64 ? ((optional >> i) & 1) != 0 : optional == kAllOptional;
}

// Types: every output of these builtins has the type of input `input`.
// kExact: the kernel copies or indexes elements of that type (RESHAPE's Eval
// copies the input's bytes into the output: float32 in, BOOL out overflows
// the output). kQuantClass: compute kernels that may requantize between
// INT8, UINT8 and INT16 (SOFTMAX int8 -> int16, ...); any other pair must
// be equal (float32 in, STRING or BOOL out is refused). The harness found
// activation tensors retyped this way crashing the stock runtime and XNNPACK.
enum class TypeRule { kExact, kQuantClass };

struct BuiltinTypeRule {
  tflite::BuiltinOperator op;
  int input;
  TypeRule rule;
};

constexpr BuiltinTypeRule kBuiltinTypeRules[] = {
    // Data movement: exact.
    {tflite::BuiltinOperator_RESHAPE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_SQUEEZE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_EXPAND_DIMS, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_STRIDED_SLICE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_SLICE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_TRANSPOSE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_TILE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_GATHER, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_GATHER_ND, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_PACK, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_UNPACK, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_CONCATENATION, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_SPLIT, 1, TypeRule::kExact},
    {tflite::BuiltinOperator_SPLIT_V, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_PAD, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_PADV2, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_MIRROR_PAD, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_DEPTH_TO_SPACE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_SPACE_TO_DEPTH, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_BATCH_TO_SPACE_ND, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_SPACE_TO_BATCH_ND, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_BROADCAST_TO, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_REVERSE_V2, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_ZEROS_LIKE, 0, TypeRule::kExact},
    {tflite::BuiltinOperator_MAX_POOL_2D, 0, TypeRule::kExact},
    // Compute: the same type, or another of INT8 / UINT8 / INT16.
    {tflite::BuiltinOperator_FULLY_CONNECTED, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_CONV_2D, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_DEPTHWISE_CONV_2D, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_AVERAGE_POOL_2D, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_L2_POOL_2D, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_SOFTMAX, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_LOG_SOFTMAX, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_LOGISTIC, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_TANH, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_RELU, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_RELU6, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_RELU_N1_TO_1, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_HARD_SWISH, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_LEAKY_RELU, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_ADD, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_SUB, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_MUL, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_MEAN, 0, TypeRule::kQuantClass},
    {tflite::BuiltinOperator_SUM, 0, TypeRule::kQuantClass},
};

// The type rule of a builtin code, or nullptr (no type check).
inline const BuiltinTypeRule* FindBuiltinTypeRule(int code) {
  for (const BuiltinTypeRule& r : kBuiltinTypeRules) {
    if (static_cast<int>(r.op) == code) return &r;
  }
  return nullptr;
}

// Whether an output of type `out` fits rule `r` for an input of type `in`;
// `quant(t)` says whether t is one of INT8, UINT8, INT16 (the schema's and
// the runtime's enums number types differently).
template <typename IsQuant>
bool OutputTypeFits(const BuiltinTypeRule& r, int in, int out, IsQuant quant) {
  return out == in || (r.rule == TypeRule::kQuantClass && quant(in) && quant(out));
}

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_VERIFY_BUILTIN_RULES_H_
