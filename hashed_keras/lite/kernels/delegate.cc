// The TFLite delegate plugin: claims the CUSTOM nodes whose custom_name is in
// the op registry (op_registry.cc) and replaces them with delegate kernels.
//
// ABI notes (see tflite_abi.h):
//  * TfLiteRegistration is passed *by value* to
//    ReplaceNodeSubsetsWithDelegateKernels. Its size changed upstream (V1..V4)
//    and a by-value argument of the wrong size shifts the arguments after it
//    on some ABIs (32-bit ARM). The runtime's size is measured from its own
//    node storage (the distance between two consecutive nodes minus the
//    offset of a node's registration: the interpreter keeps
//    std::vector<std::pair<TfLiteNode, TfLiteRegistration>>) and the call is
//    made through a function type whose argument has exactly that size. If
//    the measurement is implausible, the V4 layout of the runtimes this was
//    built against (TF 2.14 - 2.21, LiteRT 2.3) is used.
//  * TfLiteTensor's stride is sanity-checked (every tensor's enum and flag
//    fields in range) before any node is claimed; a mismatch fails loudly
//    instead of corrupting memory.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/mman.h>
#endif

#include "hk_kernels.h"
#include "on_the_fly.h"
#include "op_registry.h"
#include "status.h"
#include "tflite_abi.h"
#include "verify_builtin_rules.h"

namespace hk {
namespace {

using tfl::TfLiteContext;
using tfl::TfLiteDelegate;
using tfl::TfLiteDelegateParams;
using tfl::TfLiteIntArray;
using tfl::TfLiteNode;
using tfl::TfLiteRegistration;
using tfl::TfLiteStatus;

constexpr const char* kDelegateName = "HashedKerasDelegate";

struct PrepareState;

struct HkDelegate {
  TfLiteDelegate base;  // what the runtime sees: must be the first member
  // Zeroed room after the struct, in case a runtime newer than the layout
  // declared here reads fields appended to TfLiteDelegate.
  void* spare[16];
  bool verbose = false;
  // Option "weights": "on_the_fly" computes FULLY_CONNECTED and CONV_2D
  // nodes straight from the shared variables (on_the_fly.h); "rebuilt" (the
  // default) rebuilds every weight tensor once.
  bool on_the_fly = false;
  // The limits (HkLimits, defaults filled in) and what the nodes this
  // delegate's kernels currently hold use of them, over every interpreter
  // and subgraph the delegate serves (docs/tflite_format.md, "Limits").
  uint64_t max_virtual_weights = HK_DEFAULT_MAX_VIRTUAL_WEIGHTS;
  uint64_t max_rebuild_bytes = HK_DEFAULT_MAX_REBUILD_BYTES;
  std::mutex mutex;
  uint64_t live_weights = 0;
  uint64_t live_bytes = 0;
  uint64_t live_work = 0;
  // Set by DelegatePrepare while the runtime calls KernelInit from
  // ReplaceNodeSubsetsWithDelegateKernels (same thread, same call).
  const PrepareState* preparing = nullptr;
};

// What DelegatePrepare learnt about the graph, for KernelInit.
struct PrepareState {
  TfLiteContext* context = nullptr;
  std::vector<int> claimed;              // node indices, ascending
  std::vector<unsigned char> producers;  // per tensor: nodes writing it (<= 255)
  Status wiring;  // whether the served nodes' wiring fits
  // On the fly: (FULLY_CONNECTED or CONV_2D node, the node of ours making
  // its filter), sorted; `streamed`: those nodes of ours, sorted. Both are
  // in `claimed`.
  std::vector<std::pair<int, int>> fused;
  std::vector<int> streamed;
};

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

// How a user raises a limit, for messages.
std::string HowToRaise(const char* key) {
  return std::string("if the model is trusted, raise the limit: "
                     "hashed_keras.lite.Interpreter(..., ") + key +
         "=N) in Python, the delegate option \"" + key +
         "\" (decimal) of load_delegate / tflite_plugin_create_delegate, or "
         "the JNI parameter on Android";
}

// ---------------------------------------------------------------------------
// The delegate kernel: one per partition of claimed nodes.
//
// Validation (docs/tflite_format.md): a node is served only if its
// registration is builtin CUSTOM with a custom name of the registry. Before
// any data is read: each output is a distinct, non-constant activation tensor
// that no other node writes and that is not one of the node's inputs; each
// input is a constant of the model (kTfLiteMmapRo / kTfLitePersistentRo)
// whose data is non-null and exactly the bytes its type and dims declare, or
// an activation tensor (then re-validated at every invoke); the operator's
// Check matches types and dims against its options; the node's cost fits the
// delegate's limits.
//
// Constant outputs. When every input of a node is a constant of the model
// (kTfLiteMmapRo: the buckets, as the converter writes them), the node's
// outputs are computed once, when the delegate takes the node (Init, called
// from ReplaceNodeSubsetsWithDelegateKernels), into memory the kernel owns,
// and the output tensors are turned into constants (kTfLiteMmapRo pointing
// at that memory). Delegates applied after this one -- the runtime's default
// XNNPACK delegate, applied at the first allocate_tensors() -- then see the
// rebuilt weights as static, exactly like the weights of a dense model, and
// take the CONV_2D / FULLY_CONNECTED nodes that consume them (XNNPACK leaves
// a convolution with a non-constant filter to the slower builtin kernel).
// Invoking costs nothing for the rebuild. On Free the tensors are given back
// as they were (arena tensors without data), so nothing is left pointing at
// freed memory. Otherwise (an input that is not a constant), the outputs are
// arena tensors recomputed at every invoke.

// On the fly: a FULLY_CONNECTED or CONV_2D node computed from the inputs of
// the node of ours that makes its filter (whose OpKernel is its KernelNode's
// `kernel`). That node is "streamed": it computes nothing, and its outputs
// get no memory (see Elide).
struct Fused {
  int weights_node = -1;  // the node of ours
  std::vector<int> weights_inputs, weights_outputs;
  NodeIo weights_io;  // that node, as Init saw it
  bool conv = false;  // CONV_2D (else FULLY_CONNECTED)
  FcOptions options;
  ConvOptions conv_options;
  // Its inputs (constants) as float32: int8 and misaligned ones copied once.
  std::vector<std::vector<float>> copies;
  const float* views[kMaxOpInputs] = {};
  // The bias: the operator's (computed once), a copy of the file's, or none.
  std::vector<float> bias_values;
  const float* bias = nullptr;
  std::vector<float> tile;  // TileFloats(in, out): the only weights held
  std::vector<float> patch;  // CONV_2D: TileWidth(in), one pixel's field
  // A checksum of those inputs' bytes, from Init: they are read at every
  // invoke, and a constant listed as a graph input can be written by the
  // caller (the rebuilt path reads it once, in Init).
  uint64_t constants = 0;
  // Set by Prepare.
  uint64_t batch = 0;  // FULLY_CONNECTED
  ConvGeometry geometry;  // CONV_2D
  // The earlier node of this kernel whose output is input 0, or -1.
  int x_from = -1;
  // The output is read only inside this kernel (the runtime allocates no
  // memory for it): `activations` holds it.
  bool internal = false;
  std::vector<float> activations;
};

enum class Role {
  kRebuilt,   // a node of ours: outputs computed (once if constant)
  kStreamed,  // a node of ours feeding a Fused: nothing computed
  kFused,     // a FULLY_CONNECTED or CONV_2D node computed on the fly
};

struct KernelNode {
  Role role = Role::kRebuilt;
  std::unique_ptr<Fused> fused;  // kFused
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::unique_ptr<OpKernel> kernel;
  NodeIo io;
  std::vector<OutputShape> shapes;  // as Check returned them
  // Constant outputs (see above): the data, and each tensor's former
  // allocation type.
  std::vector<std::unique_ptr<float[]>> owned;
  std::vector<tfl::TfLiteAllocationType> former_allocation;
  bool constant = false;
  // kStreamed: each output's former byte count, and the zero pages given it
  // (Elide).
  std::vector<size_t> former_bytes;
  std::vector<std::pair<void*, size_t>> zero_pages;
  // What this node holds of the delegate's limits (given back on Free).
  uint64_t held_weights = 0, held_bytes = 0, held_work = 0;
};

struct DelegateKernel {
  std::vector<KernelNode> nodes;
  std::vector<int> partition_outputs;  // sorted: read outside this kernel
  Status init;  // an error is a complete message, reported by Prepare
  HkDelegate* delegate = nullptr;
};

// A registration owned by the runtime, seen through the prefix all layouts
// share (see tflite_abi.h).
const tfl::TfLiteRegistrationV1* AsV1(const TfLiteRegistration* reg) {
  return reinterpret_cast<const tfl::TfLiteRegistrationV1*>(reg);
}

// A name from the model file, printable and short, for messages.
std::string Printable(const char* s) {
  if (s == nullptr) return "(null)";
  std::string out;
  for (size_t i = 0; s[i] != '\0' && i < 120; ++i) {
    const char c = s[i];
    out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  }
  return out;
}

// The operator a registration denotes: builtin code CUSTOM *and* a custom
// name of the registry; null otherwise (never reads a null name).
const OpKind* ServedKind(const TfLiteRegistration* reg) {
  if (reg == nullptr) return nullptr;
  const tfl::TfLiteRegistrationV1* v1 = AsV1(reg);
  if (v1->builtin_code != tfl::kTfLiteBuiltinCustom) return nullptr;
  return FindOpKind(v1->custom_name);
}

const char* AllocationName(int type) {
  static const char* const kNames[] = {
      "none", "mmap-ro (a constant of the file)", "arena", "arena-persistent",
      "dynamic", "persistent-ro", "custom", "variant", "non-cpu"};
  if (type >= 0 && type < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) {
    return kNames[type];
  }
  return "unknown";
}

bool IsActivation(const tfl::TfLiteTensor* t) {
  return t->allocation_type == tfl::kTfLiteArenaRw ||
         t->allocation_type == tfl::kTfLiteArenaRwPersistent ||
         t->allocation_type == tfl::kTfLiteDynamic;
}

std::string TensorLabel(TfLiteContext* context, int index) {
  const tfl::TfLiteTensor* t = TensorAt(context, index);
  return "tensor " + std::to_string(index) +
         (t != nullptr && t->name ? " '" + Printable(t->name) + "'" : "");
}

// Whether a builtin node's wiring fits its operator (verify_builtin_rules.h,
// the rule the verifier applies to files): the number of inputs and outputs,
// and -1 only at optional inputs. The runtime's XNNPACK delegate reads a
// builtin's inputs before any check of their count (LiteRT's
// VisitStridedSliceNode reads inputs[3] of any STRIDED_SLICE node), so a
// file whose operator code was changed would crash it. The stock runtime
// never gets there on our files (our custom operators stay unresolved and
// it does not apply XNNPACK); with this delegate loaded it does, so the
// delegate refuses such a graph. Ours and other custom operators pass.
//
// Also, for every node but ours (CheckWiring says more of them) and delegate
// kernels: no output is a constant of the file. The runtime writes a node's
// outputs wherever their data points (RESHAPE copies into a file constant
// its size does not fit: a heap overflow), and a constant written by one
// node may be our operator's input.
Status NodeWiringFits(TfLiteContext* context, const TfLiteRegistration* reg,
                      const TfLiteNode* node) {
  const int code = AsV1(reg)->builtin_code;
  if (code == tfl::kTfLiteBuiltinDelegate || ServedKind(reg) != nullptr) {
    return Status();
  }
  const char* name = code == tfl::kTfLiteBuiltinCustom
                         ? "CUSTOM"
                         : tflite::EnumNameBuiltinOperator(
                               static_cast<tflite::BuiltinOperator>(code));
  for (int i = 0; node->outputs != nullptr && i < node->outputs->size; ++i) {
    const tfl::TfLiteTensor* t = TensorAt(context, node->outputs->data[i]);
    HK_ENSURE(t == nullptr || t->allocation_type != tfl::kTfLiteMmapRo,
              Format("(%s) writes output %d (%s), a constant of the model "
                     "file", name, i,
                     TensorLabel(context, node->outputs->data[i]).c_str()));
  }
  if (code == tfl::kTfLiteBuiltinCustom) return Status();
  const BuiltinArity* arity = FindBuiltinArity(code);
  const int num_inputs = node->inputs != nullptr ? node->inputs->size : 0;
  const int num_outputs = node->outputs != nullptr ? node->outputs->size : 0;
  HK_ENSURE(CountsFit(arity, num_inputs, num_outputs),
            Format("(%s) has %d inputs and %d outputs, but %s takes %s "
                   "inputs and %s outputs",
                   name, num_inputs, num_outputs, name,
                   CountRange(arity->min_inputs, arity->max_inputs).c_str(),
                   CountRange(arity->min_outputs, arity->max_outputs).c_str()));
  for (int i = 0; i < num_inputs; ++i) {
    HK_ENSURE(node->inputs->data[i] >= 0 || InputMayBeAbsent(arity, i),
              Format("(%s) has input %d absent (-1), but it is not optional",
                     name, i));
  }
  // Output types (the runtime's kernels copy bytes by the input's type:
  // RESHAPE into an INT4 output overflows it).
  const BuiltinTypeRule* rule = FindBuiltinTypeRule(code);
  const tfl::TfLiteTensor* in =
      rule != nullptr && rule->input < num_inputs
          ? TensorAt(context, node->inputs->data[rule->input])
          : nullptr;
  auto quant = [](int t) {
    return t == tfl::kTfLiteInt8 || t == tfl::kTfLiteUInt8 ||
           t == tfl::kTfLiteInt16;
  };
  for (int k = 0; in != nullptr && k < num_outputs; ++k) {
    const tfl::TfLiteTensor* out = TensorAt(context, node->outputs->data[k]);
    HK_ENSURE(out == nullptr || OutputTypeFits(*rule, in->type, out->type, quant),
              Format("(%s) has output %d of type %s (%d), but its input %d "
                     "is %s",
                     name, k, TypeName(out->type), static_cast<int>(out->type),
                     rule->input, TypeName(in->type)));
  }
  return Status();
}

// A tensor read by a node: as its input `position`, by a node of `code`.
struct TensorUse {
  int tensor, code, position, node;
  bool operator<(const TensorUse& o) const { return tensor < o.tensor; }
};

// How the served nodes sit in the graph -- the converter's wiring, which
// the verifier requires of files (verify.cc, VerifyOurOperator) and the
// delegate of graphs: each input of ours is read by its node alone, except
// SMH's U and V, the same two distinct tensors for every SMHWeights node;
// output 0 (weights) is read only as input 1 (filter) and output 1 (bias)
// only as input 2 of FULLY_CONNECTED or CONV_2D nodes, and by at least one.
// A graph rewired otherwise would run with other numbers, silently.
// `uses`: every (tensor, reader's builtin code, input position) of the
// plan, sorted by tensor (DelegatePrepare collects them in its one pass).
Status ServedWiringFits(TfLiteContext* context,
                        const std::vector<TensorUse>& uses,
                        const std::vector<int>& claimed) {
  auto uses_of = [&](int t) {
    return std::equal_range(uses.begin(), uses.end(), TensorUse{t, 0, 0, 0});
  };
  int smh_u = -1, smh_v = -1;
  for (const int index : claimed) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    context->GetNodeAndRegistration(context, index, &node, &reg);
    const OpKind* kind = ServedKind(reg);
    const char* name = kind->custom_name;
    const bool smh = kind->shares_inputs_0_1;
    const std::string where = Format("%s node %d", name, index);
    for (int k = 0; node->inputs != nullptr && k < node->inputs->size; ++k) {
      const int t = node->inputs->data[k];
      if (t < 0) continue;
      if (smh && k < 2) {
        int& expected = k == 0 ? smh_u : smh_v;
        if (expected < 0) expected = t;
        HK_ENSURE(t == expected && smh_u != smh_v,
                  Format("%s: input %d (%s) is not the %s of the graph's other "
                         "%s nodes (%s), or U and V are the same "
                         "tensor", where.c_str(), k,
                         TensorLabel(context, t).c_str(), k == 0 ? "U" : "V",
                         name, TensorLabel(context, expected).c_str()));
        continue;
      }
      const auto range = uses_of(t);
      HK_ENSURE(range.second - range.first == 1,
                Format("%s: input %d (%s) is read by %d node inputs; each "
                       "layer's buckets and scales belong to its node alone",
                       where.c_str(), k, TensorLabel(context, t).c_str(),
                       static_cast<int>(range.second - range.first)));
    }
    for (int k = 0; node->outputs != nullptr && k < node->outputs->size && k < 2;
         ++k) {
      const int t = node->outputs->data[k];
      const auto range = uses_of(t);
      bool fits = range.first != range.second;
      for (auto u = range.first; fits && u != range.second; ++u) {
        fits = (u->code == tflite::BuiltinOperator_FULLY_CONNECTED ||
                u->code == tflite::BuiltinOperator_CONV_2D) &&
               u->position == k + 1;
      }
      HK_ENSURE(fits, Format("%s: output %d (%s) is not read (only) as input "
                             "%d (%s) of FULLY_CONNECTED or CONV_2D nodes",
                             where.c_str(), k, TensorLabel(context, t).c_str(),
                             k + 1, k == 0 ? "filter" : "bias"));
    }
  }
  return Status();
}

// The wiring of a node, before any operator or data is looked at (see the
// comment above): tensor indices, distinct outputs, allocation types.
// `producers` (may be null) counts the nodes writing each tensor.
Status CheckWiring(TfLiteContext* context, const NodeIo& io,
                   const std::vector<unsigned char>* producers) {
  for (int i = 0; i < io.num_outputs; ++i) {
    for (int j = 0; j < i; ++j) {
      HK_ENSURE(io.outputs[j] != io.outputs[i],
                "output " + std::to_string(i) + " is the same tensor as output " +
                    std::to_string(j) + " (" +
                    TensorLabel(context, io.outputs[i]) + ")");
    }
  }
  // "<name>: tensor index N is not a tensor of the model (M tensors)".
  auto out_of_range = [&](const std::string& name, int index) {
    return name + ": tensor index " + std::to_string(index) +
           " is not a tensor of the model (" +
           std::to_string(context->tensors_size) + " tensors)";
  };
  for (int i = 0; i < io.num_outputs; ++i) {
    const int index = io.outputs[i];
    const std::string name = "output " + std::to_string(i);
    const tfl::TfLiteTensor* t = TensorAt(context, index);
    HK_ENSURE(t != nullptr, out_of_range(name, index));
    const std::string label = name + " (" + TensorLabel(context, index) + ")";
    for (int j = 0; j < io.num_inputs; ++j) {
      HK_ENSURE(io.inputs[j] != index,
                name + " is also input " + std::to_string(j) + " (" +
                    TensorLabel(context, index) +
                    "); an operator cannot write its own input");
    }
    HK_ENSURE(!IsConstantTensor(t),
              label + " is a constant of the model file (its buffer has "
                      "data); an operator's output must be an activation "
                      "tensor without data");
    HK_ENSURE(IsActivation(t), label + " has allocation type " +
                                   AllocationName(t->allocation_type) +
                                   "; expected an activation tensor");
    HK_ENSURE(producers == nullptr ||
                  static_cast<size_t>(index) >= producers->size() ||
                  (*producers)[static_cast<size_t>(index)] <= 1,
              label + " is also the output of another node");
  }
  for (int i = 0; i < io.num_inputs; ++i) {
    const int index = io.inputs[i];
    if (index == tfl::kTfLiteOptionalTensor) continue;  // the operator decides
    const std::string name = "input " + std::to_string(i);
    const tfl::TfLiteTensor* t = TensorAt(context, index);
    HK_ENSURE(t != nullptr, out_of_range(name, index));
    HK_ENSURE(IsConstantTensor(t) || IsActivation(t),
              name + " (" + TensorLabel(context, index) +
                  ") has allocation type " + AllocationName(t->allocation_type) +
                  "; expected a constant of the model or an activation tensor");
  }
  return Status();
}

// The data of a node's inputs (after Check accepted their types and dims):
// a constant has exactly its bytes; an activation too when `need_data`
// (invoke).
Status CheckInputData(TfLiteContext* context, const NodeIo& io,
                      bool need_data) {
  for (int i = 0; i < io.num_inputs; ++i) {
    const int index = io.inputs[i];
    const tfl::TfLiteTensor* t = TensorAt(context, index);
    if (t == nullptr) continue;  // optional (CheckWiring refused the rest)
    const std::string name =
        "input " + std::to_string(i) + " (" + TensorLabel(context, index) + ")";
    const bool constant = IsConstantTensor(t);
    if (!constant && !need_data) continue;
    const Status data = CheckExactData(t);
    HK_ENSURE(data.ok() || !constant,
              name + " is a constant that " + data.message() +
                  "; the file's buffer does not match the tensor's shape and "
                  "type");
    HK_ENSURE(data.ok(), name + " " + data.message() +
                             " (call allocate_tensors and set it before "
                             "invoke)");
  }
  return Status();
}

// The full validation of a node: wiring, the operator's Check (types and
// dims; fills kn->shapes), then the inputs' data.
Status ValidateNode(TfLiteContext* context, KernelNode* kn,
                    const std::vector<unsigned char>* producers,
                    bool need_data) {
  HK_RETURN_IF_ERROR(CheckWiring(context, kn->io, producers));
  kn->shapes.clear();
  HK_RETURN_IF_ERROR(kn->kernel->Check(context, kn->io, &kn->shapes));
  HK_ENSURE(static_cast<int>(kn->shapes.size()) == kn->io.num_outputs,
            "internal error: output count");
  return CheckInputData(context, kn->io, need_data);
}

std::vector<int> CopyIndices(const TfLiteIntArray* a) {
  std::vector<int> v;
  if (a != nullptr && a->size > 0) v.assign(a->data, a->data + a->size);
  return v;
}

// Whether every (non-optional) input is a constant (validated by CheckWiring).
bool InputsAreConstant(TfLiteContext* context, const NodeIo& io) {
  for (int i = 0; i < io.num_inputs; ++i) {
    if (io.inputs[i] == tfl::kTfLiteOptionalTensor) continue;
    if (!IsConstantTensor(TensorAt(context, io.inputs[i]))) return false;
  }
  return true;
}

// Whether a float32 tensor's data must be copied before it is read as
// floats: a file's buffer need not be 4-byte aligned (a misaligned float load
// is undefined behaviour, and faults on some ARM cores).
bool Misaligned(const tfl::TfLiteTensor* t) {
  return reinterpret_cast<uintptr_t>(t->data.raw) % alignof(float) != 0;
}

// Bytes of the float32 copies InputViews makes: int8 inputs dequantized,
// misaligned float32 inputs.
uint64_t DequantizedBytes(TfLiteContext* context, const NodeIo& io) {
  uint64_t bytes = 0;
  for (int i = 0; i < io.num_inputs; ++i) {
    const tfl::TfLiteTensor* t = TensorAt(context, io.inputs[i]);
    if (t != nullptr && (t->type == tfl::kTfLiteInt8 ||
                         (t->type == tfl::kTfLiteFloat32 && Misaligned(t)))) {
      const int64_t count = ElementCount(t->dims);
      if (count > 0) {
        bytes = SaturatingAdd(
            bytes, SaturatingMul(static_cast<uint64_t>(count), sizeof(float)));
      }
    }
  }
  return bytes;
}

// Float32 views of a node's inputs for Compute: float32 tensors as they are
// (copied into `scratch` if misaligned), int8 ones (shared variables,
// validated by Check) dequantized into `scratch` (exactly the dims'
// elements). False if an input has no data of exactly its dims' bytes. May
// throw std::bad_alloc.
bool InputViews(TfLiteContext* context, const NodeIo& io,
                std::vector<std::vector<float>>* scratch,
                const float* views[kMaxOpInputs]) {
  for (int i = 0; i < kMaxOpInputs; ++i) views[i] = nullptr;
  if (io.num_inputs > kMaxOpInputs) return false;
  scratch->clear();
  scratch->reserve(static_cast<size_t>(io.num_inputs));
  for (int i = 0; i < io.num_inputs; ++i) {
    if (io.inputs[i] == tfl::kTfLiteOptionalTensor) continue;
    const tfl::TfLiteTensor* t = TensorAt(context, io.inputs[i]);
    if (!CheckExactData(t).ok()) return false;
    const size_t count = static_cast<size_t>(ElementCount(t->dims));
    if (t->type == tfl::kTfLiteFloat32) {
      if (!Misaligned(t)) {
        views[i] = t->data.f;
        continue;
      }
      scratch->emplace_back(count);
      memcpy(scratch->back().data(), t->data.raw, count * sizeof(float));
      views[i] = scratch->back().data();
      continue;
    }
    if (t->type != tfl::kTfLiteInt8) return false;
    scratch->emplace_back(count);
    const auto* q = reinterpret_cast<const int8_t*>(t->data.raw);
    const float scale = t->params.scale;
    float* dst = scratch->back().data();
    for (size_t j = 0; j < count; ++j) dst[j] = scale * q[j];
    views[i] = dst;
  }
  return true;
}

// Charges a validated node's cost to the delegate's limits (the totals of
// the nodes the delegate holds). An error names the limit exceeded.
Status Reserve(TfLiteContext* context, HkDelegate* d, KernelNode* kn,
               bool constant) {
  OpCost cost = kn->kernel->Cost();
  if (kn->role == Role::kStreamed) {
    // No outputs; its Fused holds a tile, a patch and the bias (and the
    // float32 copies of inputs counted below) for as long as it lives.
    const KernelGeometry& g = kn->kernel->Geometry();
    cost.output_bytes = 0;
    cost.scratch_bytes =
        (TileFloats(g.rows, g.out) + TileWidth(g.rows) + g.out) * sizeof(float);
  }
  const uint64_t dequantized = DequantizedBytes(context, kn->io);
  const uint64_t transient = SaturatingAdd(cost.scratch_bytes, dequantized);
  const uint64_t peak = SaturatingAdd(cost.output_bytes, transient);
  // A constant node keeps only its outputs once computed; a node computed at
  // invoke (or streamed) keeps its scratch too.
  const uint64_t hold = constant ? cost.output_bytes : peak;
  const uint64_t max_weights =
      d ? d->max_virtual_weights : HK_DEFAULT_MAX_VIRTUAL_WEIGHTS;
  const uint64_t max_bytes =
      d ? d->max_rebuild_bytes : HK_DEFAULT_MAX_REBUILD_BYTES;
  const uint64_t max_work = SaturatingMul(max_weights, kWorkPerVirtualWeight);
  std::unique_lock<std::mutex> lock;
  if (d != nullptr) lock = std::unique_lock<std::mutex>(d->mutex);
  const uint64_t live_weights = d ? d->live_weights : 0;
  const uint64_t live_bytes = d ? d->live_bytes : 0;
  const uint64_t live_work = d ? d->live_work : 0;
  // " (N with the delegate's other nodes)" when it holds any.
  auto others = [](uint64_t live, uint64_t total) {
    return live ? Format(" (%llu with the delegate's other nodes)",
                         static_cast<unsigned long long>(total))
                : std::string();
  };
  if (SaturatingAdd(live_weights, cost.virtual_weights) > max_weights) {
    return Status::Error(Format("rebuilds %llu virtual weights%s, over the limit "
                  "max_virtual_weights = %llu; ",
                  static_cast<unsigned long long>(cost.virtual_weights),
                  others(live_weights, SaturatingAdd(live_weights, cost.virtual_weights))
                      .c_str(),
                  static_cast<unsigned long long>(max_weights)) +
           HowToRaise("max_virtual_weights"));
  }
  if (SaturatingAdd(live_bytes, peak) > max_bytes) {
    return Status::Error(Format("needs %llu bytes (outputs %llu, scratch %llu, float32 "
                  "copies of inputs %llu)%s, over the limit max_rebuild_bytes "
                  "= %llu; ",
                  static_cast<unsigned long long>(peak),
                  static_cast<unsigned long long>(cost.output_bytes),
                  static_cast<unsigned long long>(cost.scratch_bytes),
                  static_cast<unsigned long long>(dequantized),
                  others(live_bytes, SaturatingAdd(live_bytes, peak)).c_str(),
                  static_cast<unsigned long long>(max_bytes)) +
           HowToRaise("max_rebuild_bytes"));
  }
  if (SaturatingAdd(live_work, cost.work) > max_work) {
    return Status::Error(Format("needs %llu work units (docs/tflite_format.md, \"Limits\")%s, over "
                  "the limit %llu x max_virtual_weights = %llu; ",
                  static_cast<unsigned long long>(cost.work),
                  others(live_work, SaturatingAdd(live_work, cost.work)).c_str(),
                  static_cast<unsigned long long>(kWorkPerVirtualWeight),
                  static_cast<unsigned long long>(max_work)) +
           HowToRaise("max_virtual_weights"));
  }
  if (d != nullptr) {
    d->live_weights = SaturatingAdd(d->live_weights, cost.virtual_weights);
    d->live_bytes = SaturatingAdd(d->live_bytes, hold);
    d->live_work = SaturatingAdd(d->live_work, cost.work);
  }
  kn->held_weights = cost.virtual_weights;
  kn->held_bytes = hold;
  kn->held_work = cost.work;
  return Status();
}

void Release(HkDelegate* d, KernelNode* kn) {
  if (d == nullptr) return;
  std::lock_guard<std::mutex> lock(d->mutex);
  d->live_weights -= kn->held_weights < d->live_weights ? kn->held_weights
                                                        : d->live_weights;
  d->live_bytes -= kn->held_bytes < d->live_bytes ? kn->held_bytes
                                                  : d->live_bytes;
  d->live_work -= kn->held_work < d->live_work ? kn->held_work : d->live_work;
  kn->held_weights = kn->held_bytes = kn->held_work = 0;
}

// Computes a validated node whose inputs are all constants into owned memory
// and turns its outputs into constants.
Status MakeConstant(TfLiteContext* context, KernelNode* kn) {
  std::vector<std::unique_ptr<float[]>> owned;
  std::vector<float*> pointers;
  for (const OutputShape& shape : kn->shapes) {
    const uint64_t count = shape.Count();
    HK_ENSURE(count != 0 && count <= SIZE_MAX / sizeof(float),
              "internal error: output size");
    owned.emplace_back(new (std::nothrow) float[static_cast<size_t>(count)]);
    HK_ENSURE(owned.back() != nullptr, "out of memory for the rebuilt outputs");
    pointers.push_back(owned.back().get());
  }
  try {
    std::vector<std::vector<float>> dequantized;
    const float* inputs[kMaxOpInputs];
    HK_ENSURE(InputViews(context, kn->io, &dequantized, inputs),
              "internal error: an input lost its data");
    kn->kernel->Compute(inputs, pointers.data());
  } catch (const std::bad_alloc&) {
    return Status::Error("out of memory for scratch or dequantized inputs");
  }
  kn->former_allocation.clear();
  for (size_t i = 0; i < kn->shapes.size(); ++i) {
    tfl::TfLiteTensor* t = TensorAt(context, kn->io.outputs[i]);
    kn->former_allocation.push_back(t->allocation_type);
    t->allocation_type = tfl::kTfLiteMmapRo;
    t->data.raw = reinterpret_cast<char*>(pointers[i]);
    t->bytes = static_cast<size_t>(kn->shapes[i].Count()) * sizeof(float);
  }
  kn->owned = std::move(owned);
  kn->constant = true;
  return Status();
}

// Gives the constant outputs back to the runtime as they were (no data).
void ReleaseConstant(TfLiteContext* context, KernelNode* kn) {
  if (!kn->constant) return;
  for (size_t i = 0; i < kn->owned.size(); ++i) {
    tfl::TfLiteTensor* t = TensorAt(context, kn->io.outputs[i]);
    if (t != nullptr &&
        t->data.raw == reinterpret_cast<char*>(kn->owned[i].get())) {
      t->data.raw = nullptr;
      t->allocation_type = kn->former_allocation[i];
    }
  }
  kn->owned.clear();
  kn->constant = false;
}

// Whether the constant outputs are still the tensors' data, dims and size.
bool ConstantIntact(TfLiteContext* context, const KernelNode& kn) {
  for (size_t i = 0; i < kn.owned.size(); ++i) {
    const tfl::TfLiteTensor* t = TensorAt(context, kn.io.outputs[i]);
    if (t == nullptr || t->allocation_type != tfl::kTfLiteMmapRo ||
        t->data.raw != reinterpret_cast<const char*>(kn.owned[i].get()) ||
        t->bytes != kn.shapes[i].Count() * sizeof(float) ||
        !IsFloat32WithDims(t, kn.shapes[i].dims, kn.shapes[i].rank)) {
      return false;
    }
  }
  return true;
}

Status Elide(TfLiteContext* context, KernelNode* kn);

// Takes node `node_index` into `kernel` (identified, validated, charged to
// the limits, computed if constant; streamed: its outputs elided). An error
// is a complete message.
Status InitNode(TfLiteContext* context, DelegateKernel* kernel,
                const PrepareState* state, int node_index) {
  const std::string where = "node " + std::to_string(node_index);
  TfLiteNode* node = nullptr;
  TfLiteRegistration* reg = nullptr;
  HK_ENSURE(context->GetNodeAndRegistration(context, node_index, &node,
                                            &reg) == tfl::kTfLiteOk &&
                node != nullptr && reg != nullptr,
            "cannot read " + where);
  const OpKind* kind = ServedKind(reg);
  HK_ENSURE(kind != nullptr,
            where + " (builtin code " +
                std::to_string(AsV1(reg)->builtin_code) + ", custom name '" +
                Printable(AsV1(reg)->custom_name) +
                "') is not a custom operator this delegate serves");
  HK_ENSURE(state == nullptr ||
                std::binary_search(state->claimed.begin(),
                                   state->claimed.end(), node_index),
            where + " was not claimed by this delegate");
  KernelNode kn;
  kn.io.node_index = node_index;
  kn.io.op_name = kind->custom_name;
  const int num_inputs = node->inputs ? node->inputs->size : 0;
  const int num_outputs = node->outputs ? node->outputs->size : 0;
  HK_ENSURE(num_inputs >= 0 && num_inputs <= kMaxOpInputs &&
                num_outputs >= 1 && num_outputs <= kMaxOpOutputs,
            std::string(kind->custom_name) + " " + where + ": has " +
                std::to_string(num_inputs) + " inputs and " +
                std::to_string(num_outputs) + " outputs; at most " +
                std::to_string(kMaxOpInputs) + " inputs and 1 to " +
                std::to_string(kMaxOpOutputs) + " outputs are supported");
  kn.inputs = CopyIndices(node->inputs);
  kn.outputs = CopyIndices(node->outputs);
  HK_ENSURE(node->custom_initial_data_size >= 0,
            std::string(kind->custom_name) + " " + where +
                ": custom options of negative size " +
                std::to_string(node->custom_initial_data_size));
  const size_t length = static_cast<size_t>(node->custom_initial_data_size);
  const uint8_t* options =
      length && node->custom_initial_data
          ? static_cast<const uint8_t*>(node->custom_initial_data)
          : nullptr;
  kn.kernel.reset(kind->create(options, options ? length : 0));
  HK_ENSURE(kn.kernel != nullptr, "out of memory");
  kernel->nodes.push_back(std::move(kn));
  // The vectors no longer move: point the views at them.
  KernelNode& k = kernel->nodes.back();
  k.io.inputs = k.inputs.data();
  k.io.num_inputs = static_cast<int>(k.inputs.size());
  k.io.outputs = k.outputs.data();
  k.io.num_outputs = static_cast<int>(k.outputs.size());

  Status status = ValidateNode(
      context, &k, state ? &state->producers : nullptr, /*need_data=*/false);
  const bool streamed = state != nullptr &&
                        std::binary_search(state->streamed.begin(),
                                           state->streamed.end(), node_index);
  if (streamed) k.role = Role::kStreamed;
  if (status.ok() && streamed && !InputsAreConstant(context, k.io)) {
    status = Status::Error("internal error: a streamed node's inputs are not "
                           "constants");
  }
  const bool constant =
      !streamed && status.ok() && InputsAreConstant(context, k.io);
  if (status.ok()) status = Reserve(context, kernel->delegate, &k, constant);
  if (status.ok() && constant) status = MakeConstant(context, &k);
  if (status.ok() && streamed) status = Elide(context, &k);
  HK_ENSURE(status.ok(), NodeMessage(context, k.io, status.message()));
  return Status();
}

// ---------------------------------------------------------------------------
// On the fly (on_the_fly.h).

// The FULLY_CONNECTED and CONV_2D nodes to compute on the fly, each with the
// node of ours making its filter, into state->fused / ->streamed /
// ->claimed. A pair qualifies when the node of ours reads only constants,
// its weights (an operator that makes tiles: OpKernel::Streams; layout 'fc'
// for FULLY_CONNECTED, 'ohwi' for CONV_2D) are read by that one node as its
// filter and its bias (if it makes one) as its bias, and that node is
// float32 with options the loops compute (ParseFcOptions,
// ParseConvOptions), a bias that is absent or a float32 constant, and an
// output no node of ours reads. Every other node keeps the rebuilt
// path (its weights rebuilt once, the runtime's kernel). `uses` as for
// ServedWiringFits.
void ChooseFused(TfLiteContext* context, const std::vector<TensorUse>& uses,
                 PrepareState* state) {
  auto uses_of = [&](int t) {
    return std::equal_range(uses.begin(), uses.end(), TensorUse{t, 0, 0, 0});
  };
  auto is_float = [&](int index) {
    const tfl::TfLiteTensor* t = TensorAt(context, index);
    return t != nullptr && t->type == tfl::kTfLiteFloat32;
  };
  for (const int index : state->claimed) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    context->GetNodeAndRegistration(context, index, &node, &reg);
    const int num_outputs = node->outputs ? node->outputs->size : 0;
    if (num_outputs < 1 || num_outputs > 2 || node->inputs == nullptr ||
        node->inputs->size > kMaxOpInputs) {
      continue;
    }
    bool constant = true;
    for (int k = 0; k < node->inputs->size; ++k) {
      const int t = node->inputs->data[k];
      if (t != tfl::kTfLiteOptionalTensor &&
          !IsConstantTensor(TensorAt(context, t))) {
        constant = false;
      }
    }
    const auto weights = uses_of(node->outputs->data[0]);
    if (!constant || weights.second - weights.first != 1 ||
        (weights.first->code != tflite::BuiltinOperator_FULLY_CONNECTED &&
         weights.first->code != tflite::BuiltinOperator_CONV_2D) ||
        weights.first->position != 1) {
      continue;
    }
    const bool conv = weights.first->code == tflite::BuiltinOperator_CONV_2D;
    const int fc_index = weights.first->node;
    if (num_outputs == 2) {
      const auto bias = uses_of(node->outputs->data[1]);
      if (bias.second - bias.first != 1 || bias.first->node != fc_index ||
          bias.first->position != 2) {
        continue;
      }
    }
    TfLiteNode* fc = nullptr;
    TfLiteRegistration* fc_reg = nullptr;
    if (context->GetNodeAndRegistration(context, fc_index, &fc, &fc_reg) !=
            tfl::kTfLiteOk ||
        fc == nullptr || fc->inputs == nullptr || fc->outputs == nullptr ||
        fc->inputs->size < 2 || fc->inputs->size > 3 ||
        fc->outputs->size != 1 || !is_float(fc->inputs->data[0]) ||
        !is_float(fc->outputs->data[0])) {
      continue;
    }
    if (num_outputs == 1 && fc->inputs->size == 3 &&
        fc->inputs->data[2] != tfl::kTfLiteOptionalTensor &&
        !(is_float(fc->inputs->data[2]) &&
          IsConstantTensor(TensorAt(context, fc->inputs->data[2])))) {
      continue;
    }
    FcOptions options;
    ConvOptions conv_options;
    if (!(conv ? ParseConvOptions(fc->builtin_data, &conv_options)
               : ParseFcOptions(fc->builtin_data, &options))
             .ok()) {
      continue;
    }
    const auto readers = uses_of(fc->outputs->data[0]);
    bool read_by_ours = false;
    for (auto u = readers.first; u != readers.second; ++u) {
      read_by_ours = read_by_ours || u->code == tfl::kTfLiteBuiltinCustom;
    }
    if (read_by_ours) continue;
    const size_t length = node->custom_initial_data_size > 0
                              ? static_cast<size_t>(node->custom_initial_data_size)
                              : 0;
    std::unique_ptr<OpKernel> kernel(ServedKind(reg)->create(
        length ? static_cast<const uint8_t*>(node->custom_initial_data)
               : nullptr,
        node->custom_initial_data ? length : 0));
    if (kernel == nullptr || !kernel->Streams() ||
        kernel->Geometry().layout != (conv ? Layout::kOhwi : Layout::kFc)) {
      continue;
    }
    state->fused.push_back({fc_index, index});
    state->streamed.push_back(index);
  }
  std::sort(state->fused.begin(), state->fused.end());
  std::sort(state->streamed.begin(), state->streamed.end());
  for (const auto& pair : state->fused) state->claimed.push_back(pair.first);
  std::sort(state->claimed.begin(), state->claimed.end());
  state->claimed.erase(
      std::unique(state->claimed.begin(), state->claimed.end()),
      state->claimed.end());
}

// Zero pages of `bytes`, or null: address space, resident only where
// written (a read maps the system's shared zero page).
void* MapZeros(size_t bytes) {
#if defined(_WIN32)
  return VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
#else
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
#endif
}

void UnmapZeros(void* p, size_t bytes) {
#if defined(_WIN32)
  (void)bytes;
  VirtualFree(p, 0, MEM_RELEASE);
#else
  munmap(p, bytes);
#endif
}

// A streamed node's outputs hold no weights: their data is zero pages of
// their size, never written by us, with an allocation type the runtime's
// planner leaves alone (kTfLiteCustom), so the weights tensor is never
// allocated, also when it joins two of the runtime's partitions, and whoever
// reads or writes it (a hostile file can list it as a graph output or
// input) stays within bounds; what is written there is never read. Their
// dims stay (Check reads them).
Status Elide(TfLiteContext* context, KernelNode* kn) {
  kn->former_allocation.clear();
  kn->former_bytes.clear();
  for (size_t i = 0; i < kn->outputs.size(); ++i) {
    const uint64_t count = kn->shapes[i].Count();
    HK_ENSURE(count != 0 && count <= SIZE_MAX / sizeof(float),
              "internal error: output size");
    const size_t bytes = static_cast<size_t>(count) * sizeof(float);
    void* zeros = MapZeros(bytes);
    HK_ENSURE(zeros != nullptr, "cannot map address space for its outputs");
    kn->zero_pages.emplace_back(zeros, bytes);
    tfl::TfLiteTensor* t = TensorAt(context, kn->outputs[i]);
    kn->former_allocation.push_back(t->allocation_type);
    kn->former_bytes.push_back(t->bytes);
    t->allocation_type = tfl::kTfLiteCustom;
    t->data.raw = static_cast<char*>(zeros);
    t->bytes = bytes;
  }
  return Status();
}

bool ElidedIntact(TfLiteContext* context, const KernelNode& kn) {
  for (size_t i = 0; i < kn.outputs.size(); ++i) {
    const tfl::TfLiteTensor* t = TensorAt(context, kn.outputs[i]);
    if (t == nullptr || i >= kn.zero_pages.size() ||
        t->allocation_type != tfl::kTfLiteCustom ||
        t->data.raw != kn.zero_pages[i].first ||
        t->bytes != kn.zero_pages[i].second ||
        !IsFloat32WithDims(t, kn.shapes[i].dims, kn.shapes[i].rank)) {
      return false;
    }
  }
  return true;
}

void ReleaseElided(TfLiteContext* context, KernelNode* kn) {
  for (size_t i = 0; i < kn->zero_pages.size(); ++i) {
    tfl::TfLiteTensor* t = TensorAt(context, kn->outputs[i]);
    if (t != nullptr && t->allocation_type == tfl::kTfLiteCustom &&
        t->data.raw == kn->zero_pages[i].first) {
      t->allocation_type = kn->former_allocation[i];
      t->data.raw = nullptr;
      t->bytes = kn->former_bytes[i];
    }
    UnmapZeros(kn->zero_pages[i].first, kn->zero_pages[i].second);
  }
  kn->zero_pages.clear();
  kn->former_bytes.clear();
}

// A checksum of the bytes of a node's (validated) inputs: sums and XORs of
// 64-bit words in 4 lanes (vectorised; a few microseconds for 100k buckets),
// to notice that a constant was written, not to resist an adversary.
uint64_t InputsChecksum(TfLiteContext* context, const NodeIo& io) {
  uint64_t sum[4] = {0, 0, 0, 0}, mix[4] = {0, 0, 0, 0};
  for (int i = 0; i < io.num_inputs; ++i) {
    const tfl::TfLiteTensor* t = TensorAt(context, io.inputs[i]);
    if (t == nullptr || t->data.raw == nullptr) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(t->data.raw);
    const size_t n = t->bytes;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
      uint64_t w[4];
      memcpy(w, p + j, 32);
      for (int k = 0; k < 4; ++k) {
        sum[k] += w[k];
        mix[k] ^= w[k] + static_cast<uint64_t>(k);
      }
    }
    for (; j < n; ++j) sum[j % 4] += static_cast<uint64_t>(p[j]) << (8 * (j % 8));
    sum[i % 4] += n;
  }
  uint64_t h = 0;
  for (int k = 0; k < 4; ++k) {
    h = (h ^ sum[k]) * 0x9E3779B97F4A7C15ull;
    h = (h ^ mix[k]) * 0x9E3779B97F4A7C15ull;
  }
  return h;
}

// "on the fly from HashedWeights node 3: <message>".
std::string FusedMessage(const KernelNode& kn, const std::string& message) {
  return Format("on the fly from %s node %d: ", kn.fused->weights_io.op_name,
                kn.fused->weights_node) +
         message;
}

// A Fused's checks (Init, then every Prepare): the node of ours as its
// own Check wants it, reading constants of exactly their bytes; the
// FULLY_CONNECTED or CONV_2D node reading its weights as filter, its bias (or an
// absent one, or a float32 [out] constant), a float32 input, writing a
// float32 activation nothing else writes (`producers` in Init).
Status ValidateFused(TfLiteContext* context, KernelNode* kn,
                     const std::vector<unsigned char>* producers) {
  Fused& fc = *kn->fused;
  const NodeIo& w = fc.weights_io;
  for (int i = 0; i < w.num_inputs; ++i) {
    if (w.inputs[i] == tfl::kTfLiteOptionalTensor) continue;
    const tfl::TfLiteTensor* t = TensorAt(context, w.inputs[i]);
    HK_ENSURE(t != nullptr && IsConstantTensor(t),
              Format("input %d of the weights operator (%s) is not a constant "
                     "of the model", i, TensorLabel(context, w.inputs[i]).c_str()));
  }
  std::vector<OutputShape> shapes;
  HK_RETURN_IF_ERROR(kn->kernel->Check(context, w, &shapes));
  HK_RETURN_IF_ERROR(CheckInputData(context, w, /*need_data=*/false));
  HK_ENSURE(kn->kernel->Streams(), "internal error: the operator cannot stream");
  const uint64_t out = kn->kernel->Geometry().out;
  HK_ENSURE(kn->io.num_inputs >= 2 && kn->io.num_inputs <= 3 &&
                kn->io.num_outputs == 1,
            Format("has %d inputs and %d outputs; expected 2 or 3 and 1",
                   kn->io.num_inputs, kn->io.num_outputs));
  HK_ENSURE(kn->io.inputs[1] == w.outputs[0],
            "its filter (input 1) is not the operator's weights (output 0)");
  const int bias = kn->io.num_inputs == 3 ? kn->io.inputs[2]
                                          : tfl::kTfLiteOptionalTensor;
  if (w.num_outputs == 2) {
    HK_ENSURE(bias == w.outputs[1],
              "its bias (input 2) is not the operator's bias (output 1)");
  } else if (bias != tfl::kTfLiteOptionalTensor) {
    const tfl::TfLiteTensor* t = TensorAt(context, bias);
    const int64_t dim = static_cast<int64_t>(out);
    HK_ENSURE(t != nullptr && IsConstantTensor(t) &&
                  IsFloat32WithDims(t, &dim, 1) && CheckExactData(t).ok(),
              Format("its bias (input 2, %s) must be a float32 [%llu] "
                     "constant of the model with its data",
                     TensorLabel(context, bias).c_str(),
                     static_cast<unsigned long long>(out)));
  }
  const int x = kn->io.inputs[0];
  NodeIo io;  // input 0 and the output: the wiring of any node
  io.node_index = kn->io.node_index;
  io.op_name = kn->io.op_name;
  io.inputs = &x;
  io.num_inputs = 1;
  io.outputs = kn->io.outputs;
  io.num_outputs = 1;
  HK_RETURN_IF_ERROR(CheckWiring(context, io, producers));
  HK_ENSURE(TensorAt(context, x)->type == tfl::kTfLiteFloat32 &&
                TensorAt(context, kn->io.outputs[0])->type ==
                    tfl::kTfLiteFloat32,
            "input 0 and the output must be float32");
  return Status();
}

// Takes FULLY_CONNECTED or CONV_2D node `node_index`, whose filter node
// `weights_node` of ours makes, into `kernel` (identified, validated; its
// inputs' float32 views, bias, tile and patch made). The limits were charged
// by the streamed node.
Status InitFusedNode(TfLiteContext* context, DelegateKernel* kernel,
                     const PrepareState* state, int node_index,
                     int weights_node) {
  const std::string where = "node " + std::to_string(node_index);
  TfLiteNode* node = nullptr;
  TfLiteRegistration* reg = nullptr;
  TfLiteNode* wnode = nullptr;
  TfLiteRegistration* wreg = nullptr;
  HK_ENSURE(context->GetNodeAndRegistration(context, node_index, &node,
                                            &reg) == tfl::kTfLiteOk &&
                node != nullptr && reg != nullptr &&
                context->GetNodeAndRegistration(context, weights_node, &wnode,
                                                &wreg) == tfl::kTfLiteOk &&
                wnode != nullptr && wreg != nullptr,
            "cannot read " + where);
  const OpKind* kind = ServedKind(wreg);
  const int code = AsV1(reg)->builtin_code;
  HK_ENSURE((code == tflite::BuiltinOperator_FULLY_CONNECTED ||
             code == tflite::BuiltinOperator_CONV_2D) &&
                kind != nullptr,
            "internal error: " + where + " is not a FULLY_CONNECTED or "
            "CONV_2D node fed by an operator of ours");
  KernelNode kn;
  kn.role = Role::kFused;
  kn.fused.reset(new (std::nothrow) Fused);
  HK_ENSURE(kn.fused != nullptr, "out of memory");
  Fused& fc = *kn.fused;
  kn.inputs = CopyIndices(node->inputs);
  kn.outputs = CopyIndices(node->outputs);
  fc.weights_node = weights_node;
  fc.weights_inputs = CopyIndices(wnode->inputs);
  fc.weights_outputs = CopyIndices(wnode->outputs);
  HK_ENSURE(fc.weights_inputs.size() <= static_cast<size_t>(kMaxOpInputs) &&
                fc.weights_outputs.size() <= 2,
            "internal error: " + where + "'s weights operator has too many "
            "inputs or outputs");
  fc.weights_io.node_index = weights_node;
  fc.weights_io.op_name = kind->custom_name;
  fc.weights_io.inputs = fc.weights_inputs.data();
  fc.weights_io.num_inputs = static_cast<int>(fc.weights_inputs.size());
  fc.weights_io.outputs = fc.weights_outputs.data();
  fc.weights_io.num_outputs = static_cast<int>(fc.weights_outputs.size());
  const size_t length = wnode->custom_initial_data_size > 0
                            ? static_cast<size_t>(wnode->custom_initial_data_size)
                            : 0;
  kn.kernel.reset(kind->create(
      length ? static_cast<const uint8_t*>(wnode->custom_initial_data)
             : nullptr,
      wnode->custom_initial_data ? length : 0));
  HK_ENSURE(kn.kernel != nullptr, "out of memory");
  kernel->nodes.push_back(std::move(kn));
  KernelNode& k = kernel->nodes.back();
  k.io.node_index = node_index;
  fc.conv = code == tflite::BuiltinOperator_CONV_2D;
  k.io.op_name = fc.conv ? "CONV_2D" : "FULLY_CONNECTED";
  k.io.inputs = k.inputs.data();
  k.io.num_inputs = static_cast<int>(k.inputs.size());
  k.io.outputs = k.outputs.data();
  k.io.num_outputs = static_cast<int>(k.outputs.size());

  Status status = fc.conv ? ParseConvOptions(node->builtin_data, &fc.conv_options)
                          : ParseFcOptions(node->builtin_data, &fc.options);
  if (status.ok() &&
      k.kernel->Geometry().layout != (fc.conv ? Layout::kOhwi : Layout::kFc)) {
    status = Status::Error("internal error: the filter's layout");
  }
  if (status.ok()) status = ValidateFused(context, &k, &state->producers);
  if (status.ok()) {
    try {
      HK_ENSURE(InputViews(context, fc.weights_io, &fc.copies, fc.views),
                "internal error: an input lost its data");
      const uint64_t in = k.kernel->Geometry().rows;
      const uint64_t out = k.kernel->Geometry().out;
      if (fc.weights_io.num_outputs == 2) {
        fc.bias_values.resize(static_cast<size_t>(out));
        k.kernel->ComputeBias(fc.views, fc.bias_values.data());
        fc.bias = fc.bias_values.data();
      } else if (k.io.num_inputs == 3 &&
                 k.io.inputs[2] != tfl::kTfLiteOptionalTensor) {
        const tfl::TfLiteTensor* t = TensorAt(context, k.io.inputs[2]);
        fc.bias_values.resize(static_cast<size_t>(out));
        memcpy(fc.bias_values.data(), t->data.raw, t->bytes);
        fc.bias = fc.bias_values.data();
      }
      fc.tile.resize(static_cast<size_t>(TileFloats(in, out)));
      if (fc.conv) fc.patch.resize(static_cast<size_t>(TileWidth(in)));
      fc.constants = InputsChecksum(context, fc.weights_io);
    } catch (const std::bad_alloc&) {
      status = Status::Error("out of memory for the tile, bias or float32 "
                             "copies of inputs");
    }
  }
  fc.internal = !std::binary_search(kernel->partition_outputs.begin(),
                                    kernel->partition_outputs.end(),
                                    k.outputs[0]);
  for (size_t i = 0; i + 1 < kernel->nodes.size(); ++i) {
    const KernelNode& earlier = kernel->nodes[i];
    if (earlier.role == Role::kFused && earlier.fused->internal &&
        earlier.outputs[0] == k.inputs[0]) {
      fc.x_from = static_cast<int>(i);
    }
  }
  HK_ENSURE(status.ok(),
            NodeMessage(context, k.io, FusedMessage(k, status.message())));
  return Status();
}

// Prepare of a Fused: validated again, its output's shape from its input's
// (an internal one: the shape its node computed), the output resized (or
// its internal memory).
Status PrepareFused(TfLiteContext* context, DelegateKernel* kernel,
                    KernelNode* kn) {
  HK_RETURN_IF_ERROR(ValidateFused(context, kn, nullptr));
  Fused& fc = *kn->fused;
  int dims[OutputShape::kMaxRank] = {0, 0, 0, 0};
  int rank = 0;
  if (fc.x_from >= 0) {
    const OutputShape& from =
        kernel->nodes[static_cast<size_t>(fc.x_from)].shapes.at(0);
    rank = from.rank;
    for (int i = 0; i < rank; ++i) dims[i] = static_cast<int>(from.dims[i]);
  } else {
    const tfl::TfLiteTensor* x = TensorAt(context, kn->inputs[0]);
    HK_ENSURE(x->dims != nullptr && x->dims->size >= 1 &&
                  x->dims->size <= OutputShape::kMaxRank,
              "input 0 has dims " + DimsString(x->dims) +
                  "; on the fly takes ranks 1 to 4");  // CONV_2D: ConvShape
    rank = x->dims->size;
    for (int i = 0; i < rank; ++i) dims[i] = x->dims->data[i];
  }
  OutputShape shape;
  const KernelGeometry& g = kn->kernel->Geometry();
  if (fc.conv) {
    HK_RETURN_IF_ERROR(
        ConvShape(dims, rank, g, fc.conv_options, &shape, &fc.geometry));
  } else {
    HK_RETURN_IF_ERROR(FcShape(dims, rank, g.rows, g.out,
                               fc.options.keep_num_dims, &shape, &fc.batch));
  }
  kn->shapes.assign(1, shape);
  if (fc.internal) {
    try {
      fc.activations.resize(static_cast<size_t>(shape.Count()));
    } catch (const std::bad_alloc&) {
      return Status::Error("out of memory for its output");
    }
    return Status();
  }
  HK_ENSURE(ResizeTo(context, TensorAt(context, kn->outputs[0]), shape.dims,
                     shape.rank) == tfl::kTfLiteOk,
            "could not resize the output");
  return Status();
}

// Invoke of a Fused: its input and output checked against the shapes of
// Prepare, then the loop.
Status InvokeFused(TfLiteContext* context, DelegateKernel* kernel,
                   KernelNode* kn) {
  Fused& fc = *kn->fused;
  HK_ENSURE(InputsChecksum(context, fc.weights_io) == fc.constants,
            "an input of the weights operator, a constant of the model, was "
            "written after the interpreter was created (a constant listed as "
            "a graph input?); on the fly reads it at every invoke. The file "
            "is corrupt or was modified: convert the model again");
  const KernelGeometry& g = kn->kernel->Geometry();
  const ConvGeometry& cg = fc.geometry;
  const uint64_t x_count =
      fc.conv ? cg.batch * cg.in_h * cg.in_w * static_cast<uint64_t>(g.kernel_shape[2])
              : fc.batch * g.rows;
  const uint64_t y_count = kn->shapes.at(0).Count();
  const float* x = nullptr;
  if (fc.x_from >= 0) {
    const Fused& from = *kernel->nodes[static_cast<size_t>(fc.x_from)].fused;
    HK_ENSURE(from.activations.size() == x_count,
              "internal error: input 0's size");
    x = from.activations.data();
  } else {
    const tfl::TfLiteTensor* t = TensorAt(context, kn->inputs[0]);
    const Status data = CheckExactData(t);
    HK_ENSURE(data.ok(), "input 0 " + data.message() +
                             " (call allocate_tensors and set it first)");
    HK_ENSURE(t->type == tfl::kTfLiteFloat32 &&
                  static_cast<uint64_t>(ElementCount(t->dims)) == x_count &&
                  !Misaligned(t),
              "input 0 changed since allocate_tensors, or is misaligned");
    x = t->data.f;
  }
  float* y = nullptr;
  if (fc.internal) {
    y = fc.activations.data();
  } else {
    tfl::TfLiteTensor* t = TensorAt(context, kn->outputs[0]);
    const Status data = CheckExactData(t);
    HK_ENSURE(data.ok() && t->type == tfl::kTfLiteFloat32 &&
                  static_cast<uint64_t>(ElementCount(t->dims)) == y_count &&
                  !Misaligned(t),
              "the output was not allocated with its shape (call "
              "allocate_tensors first)");
    y = t->data.f;
  }
  if (fc.conv) {
    Conv2DOnTheFly(*kn->kernel, fc.views, x, cg, fc.bias, fc.conv_options,
                   fc.tile.data(), fc.patch.data(), y);
  } else {
    FullyConnectedOnTheFly(*kn->kernel, fc.views, x, fc.batch, fc.bias,
                           fc.options, fc.tile.data(), y);
  }
  return Status();
}

TfLiteStatus DelegatePrepare(TfLiteContext* context, TfLiteDelegate* base);

void* KernelInit(TfLiteContext* context, const char* buffer, size_t) {
  auto* kernel = new (std::nothrow) DelegateKernel;
  if (kernel == nullptr) return nullptr;
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (params == nullptr || params->nodes_to_replace == nullptr) {
    kernel->init = Status::Error("no delegate parameters");
    return kernel;
  }
  // Our delegate (its Prepare is ours): its limits and what DelegatePrepare
  // found. Otherwise the defaults, and no view of the other nodes.
  const PrepareState* state = nullptr;
  if (params->delegate != nullptr &&
      params->delegate->Prepare == DelegatePrepare &&
      params->delegate->data_ != nullptr) {
    kernel->delegate = static_cast<HkDelegate*>(params->delegate->data_);
    const PrepareState* s = kernel->delegate->preparing;
    if (s != nullptr && s->context == context) state = s;
  }
  const TfLiteIntArray* nodes = params->nodes_to_replace;
  kernel->nodes.reserve(static_cast<size_t>(nodes->size > 0 ? nodes->size : 0));
  kernel->partition_outputs = CopyIndices(params->output_tensors);
  std::sort(kernel->partition_outputs.begin(), kernel->partition_outputs.end());
  for (int i = 0; i < nodes->size; ++i) {
    const int index = nodes->data[i];
    // A FULLY_CONNECTED or CONV_2D node on the fly (DelegatePrepare chose
    // it)?
    auto fused = state ? std::lower_bound(state->fused.begin(),
                                          state->fused.end(),
                                          std::make_pair(index, INT32_MIN))
                       : std::vector<std::pair<int, int>>::const_iterator();
    kernel->init = state && fused != state->fused.end() && fused->first == index
                       ? InitFusedNode(context, kernel, state, index,
                                       fused->second)
                       : InitNode(context, kernel, state, index);
    if (!kernel->init.ok()) break;
  }
  if (kernel->init.ok() && state != nullptr) kernel->init = state->wiring;
  return kernel;
}

void KernelFree(TfLiteContext* context, void* buffer) {
  auto* kernel = static_cast<DelegateKernel*>(buffer);
  if (kernel == nullptr) return;
  for (KernelNode& kn : kernel->nodes) {
    ReleaseConstant(context, &kn);
    ReleaseElided(context, &kn);
    Release(kernel->delegate, &kn);
  }
  delete kernel;
}

TfLiteStatus KernelCheck(TfLiteContext* context, const DelegateKernel* k) {
  if (k == nullptr) {
    context->ReportError(context, "%s: kernel was not initialised\n",
                         kDelegateName);
    return tfl::kTfLiteError;
  }
  if (!k->init.ok()) {
    context->ReportError(context, "%s: %s\n", kDelegateName,
                         k->init.message().c_str());
    return tfl::kTfLiteError;
  }
  return tfl::kTfLiteOk;
}

TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  auto* k = static_cast<DelegateKernel*>(node->user_data);
  if (KernelCheck(context, k) != tfl::kTfLiteOk) return tfl::kTfLiteError;
  for (KernelNode& kn : k->nodes) {
    if (kn.role == Role::kStreamed) {
      if (ElidedIntact(context, kn)) continue;
      return NodeError(context, kn.io,
                       "its outputs (computed on the fly, never stored) were "
                       "changed by another party");
    }
    if (kn.role == Role::kFused) {
      const Status prepared = PrepareFused(context, k, &kn);
      if (prepared.ok()) continue;
      return NodeError(context, kn.io, FusedMessage(kn, prepared.message()));
    }
    if (kn.constant) {
      if (ConstantIntact(context, kn)) continue;
      return NodeError(context, kn.io,
                       "its constant outputs were changed by another party");
    }
    const Status valid = ValidateNode(context, &kn, nullptr, /*need_data=*/false);
    if (!valid.ok()) return NodeError(context, kn.io, valid.message());
    for (size_t i = 0; i < kn.shapes.size(); ++i) {
      if (ResizeTo(context, TensorAt(context, kn.io.outputs[i]),
                   kn.shapes[i].dims, kn.shapes[i].rank) != tfl::kTfLiteOk) {
        return NodeError(context, kn.io, "could not resize the outputs");
      }
    }
  }
  return tfl::kTfLiteOk;
}

TfLiteStatus KernelInvoke(TfLiteContext* context, TfLiteNode* node) {
  auto* k = static_cast<DelegateKernel*>(node->user_data);
  if (KernelCheck(context, k) != tfl::kTfLiteOk) return tfl::kTfLiteError;
  for (KernelNode& kn : k->nodes) {
    if (kn.role == Role::kStreamed || kn.constant) continue;
    if (kn.role == Role::kFused) {
      const Status done = InvokeFused(context, k, &kn);
      if (done.ok()) continue;
      return NodeError(context, kn.io, FusedMessage(kn, done.message()));
    }
    // Not a constant: validate again (cheap), with every input's data, and
    // check every output buffer before touching it.
    const Status valid = ValidateNode(context, &kn, nullptr, /*need_data=*/true);
    if (!valid.ok()) return NodeError(context, kn.io, valid.message());
    std::vector<float*> outputs;
    for (size_t i = 0; i < kn.shapes.size(); ++i) {
      tfl::TfLiteTensor* t = TensorAt(context, kn.io.outputs[i]);
      if (!CheckExactData(t).ok()) {
        return NodeError(context, kn.io, "output " + std::to_string(i) +
                                             " was not allocated (call "
                                             "allocate_tensors first)");
      }
      outputs.push_back(t->data.f);
    }
    try {
      std::vector<std::vector<float>> dequantized;
      const float* inputs[kMaxOpInputs];
      if (!InputViews(context, kn.io, &dequantized, inputs)) {
        return NodeError(context, kn.io, "an input has no data of its size "
                                         "(call allocate_tensors first)");
      }
      kn.kernel->Compute(inputs, outputs.data());
    } catch (const std::bad_alloc&) {
      return NodeError(context, kn.io, "out of memory for scratch memory");
    }
  }
  return tfl::kTfLiteOk;
}

// ---------------------------------------------------------------------------
// Calling ReplaceNodeSubsetsWithDelegateKernels with the runtime's
// registration size.

constexpr size_t kRegSizeMin = HK_TFL_REG_SIZE_V1;
constexpr size_t kRegSizeV4 = HK_TFL_REG_SIZE_V4;
constexpr size_t kRegSizeMax = kRegSizeV4 + 8 * sizeof(uint64_t);

// The word of a registration of N bytes: V4+ contains a uint64_t, V1-V3 only
// pointers and ints. (Outside RegArg, so DispatchReplace can skip the sizes
// that are not a multiple of it -- on 32-bit targets, V4 + 4 bytes -- without
// instantiating RegArg for them.)
template <size_t N>
using RegWord =
    typename std::conditional<(N >= kRegSizeV4), uint64_t, uintptr_t>::type;

// A by-value argument of N bytes laid out like the runtime's registration:
// the same size and alignment, so every calling convention passes it the
// same way.
template <size_t N>
struct RegArg {
  using Word = RegWord<N>;
  static_assert(N % sizeof(Word) == 0, "size must be a multiple of the word");
  Word words[N / sizeof(Word)];
};

// Calling through a function type other than the callee's is what this is
// for (the callee's real parameter is the runtime's TfLiteRegistration of
// exactly N bytes); UBSan's function-type check would flag it.
#if defined(__clang__)
#define HK_NO_SANITIZE_FUNCTION __attribute__((no_sanitize("function")))
#else
#define HK_NO_SANITIZE_FUNCTION
#endif

template <size_t N>
HK_NO_SANITIZE_FUNCTION TfLiteStatus CallReplace(TfLiteContext* context,
                                                 const unsigned char* reg,
                                                 const TfLiteIntArray* nodes,
                                                 TfLiteDelegate* delegate) {
  if constexpr (N == sizeof(TfLiteRegistration)) {
    // The declared (V4) layout: a plain call.
    TfLiteRegistration r;
    memcpy(&r, reg, N);
    return context->ReplaceNodeSubsetsWithDelegateKernels(context, r, nodes,
                                                          delegate);
  } else {
    using Fn = TfLiteStatus (*)(TfLiteContext*, RegArg<N>,
                                const TfLiteIntArray*, TfLiteDelegate*);
    RegArg<N> arg;
    memcpy(arg.words, reg, N);
    Fn fn = reinterpret_cast<Fn>(reinterpret_cast<void*>(
        context->ReplaceNodeSubsetsWithDelegateKernels));
    return fn(context, arg, nodes, delegate);
  }
}

template <size_t N>
TfLiteStatus DispatchReplace(size_t size, TfLiteContext* context,
                             const unsigned char* reg,
                             const TfLiteIntArray* nodes,
                             TfLiteDelegate* delegate) {
  if constexpr (N % sizeof(RegWord<N>) == 0) {
    if (size == N) return CallReplace<N>(context, reg, nodes, delegate);
  }
  if constexpr (N + sizeof(void*) <= kRegSizeMax) {
    return DispatchReplace<N + sizeof(void*)>(size, context, reg, nodes,
                                              delegate);
  } else {
    return tfl::kTfLiteError;
  }
}

// Whether `size` is a registration size DispatchReplace can pass.
bool SupportedRegSize(size_t size) {
  if (size < kRegSizeMin || size > kRegSizeMax) return false;
  if (size % sizeof(void*) != 0) return false;
  return size < kRegSizeV4 || size % sizeof(uint64_t) == 0;
}

// Measures the runtime's sizeof(TfLiteRegistration); 0 if it cannot.
size_t MeasureRegistrationSize(TfLiteContext* context,
                               const TfLiteIntArray* plan, std::string* how) {
  int max_node = -1;
  for (int i = 0; i < plan->size; ++i) {
    if (plan->data[i] > max_node) max_node = plan->data[i];
  }
  if (max_node < 1) {
    *how = "fewer than 2 nodes";
    return 0;
  }
  TfLiteNode* n0 = nullptr;
  TfLiteNode* n1 = nullptr;
  TfLiteRegistration* r0 = nullptr;
  TfLiteRegistration* r1 = nullptr;
  if (context->GetNodeAndRegistration(context, 0, &n0, &r0) != tfl::kTfLiteOk ||
      context->GetNodeAndRegistration(context, 1, &n1, &r1) != tfl::kTfLiteOk ||
      !n0 || !n1 || !r0 || !r1) {
    *how = "GetNodeAndRegistration failed";
    return 0;
  }
  const auto a0 = reinterpret_cast<uintptr_t>(n0);
  const auto a1 = reinterpret_cast<uintptr_t>(n1);
  const auto b0 = reinterpret_cast<uintptr_t>(r0);
  const auto b1 = reinterpret_cast<uintptr_t>(r1);
  if (a1 <= a0 || b0 <= a0 || b1 <= a1 || b1 - a1 != b0 - a0) {
    *how = "nodes are not stored as (node, registration) pairs";
    return 0;
  }
  const uintptr_t reg_offset = b0 - a0;
  const uintptr_t stride = a1 - a0;
  if (reg_offset < sizeof(TfLiteNode) || reg_offset > sizeof(TfLiteNode) + 64 ||
      stride <= reg_offset) {
    *how = "implausible node layout";
    return 0;
  }
  const size_t size = static_cast<size_t>(stride - reg_offset);
  if (!SupportedRegSize(size)) {
    *how = "implausible size " + std::to_string(size);
    return 0;
  }
  *how = "measured (node " + std::to_string(reg_offset) + " B, pair " +
         std::to_string(stride) + " B)";
  return size;
}

// context->tensors must have the stride of the TfLiteTensor declared here.
// The runtimes do not set context->GetTensor (it would give the stride), so
// every tensor's small scalar fields are checked instead: with a wrong stride
// they read pointer bytes and fall outside their ranges. No pointer is
// dereferenced.
bool TensorLayoutPlausible(TfLiteContext* context, std::string* how) {
  if (context->tensors == nullptr || context->tensors_size == 0) {
    *how = "no tensors";
    return true;
  }
  const size_t n = context->tensors_size < 100000 ? context->tensors_size
                                                  : 100000;
  for (size_t i = 0; i < n; ++i) {
    const tfl::TfLiteTensor& t = context->tensors[i];
    unsigned char stale, variable;
    memcpy(&stale, &t.data_is_stale, 1);
    memcpy(&variable, &t.is_variable, 1);
    const auto type = static_cast<unsigned>(t.type);
    const auto allocation = static_cast<unsigned>(t.allocation_type);
    const auto quantization = static_cast<unsigned>(t.quantization.type);
    if (type > 63 || allocation > 16 || stale > 1 || variable > 1 ||
        quantization > 16 || t.buffer_handle < -1) {
      *how = "tensor " + std::to_string(i) + " is implausible";
      return false;
    }
  }
  *how = "plausible";
  return true;
}

TfLiteStatus DelegatePrepare(TfLiteContext* context, TfLiteDelegate* base) {
  auto* self = static_cast<HkDelegate*>(base->data_);
  const bool verbose = self != nullptr && self->verbose;

  std::string tensor_check;
  if (!TensorLayoutPlausible(context, &tensor_check)) {
    context->ReportError(
        context,
        "%s: this runtime's TfLiteTensor layout differs from the one the "
        "kernels were built for (sizeof %zu: %s); refusing to run",
        kDelegateName, sizeof(tfl::TfLiteTensor), tensor_check.c_str());
    return tfl::kTfLiteError;
  }

  TfLiteIntArray* plan = nullptr;
  if (context->GetExecutionPlan(context, &plan) != tfl::kTfLiteOk ||
      plan == nullptr) {
    context->ReportError(context, "%s: cannot read the execution plan",
                         kDelegateName);
    return tfl::kTfLiteError;
  }
  // The nodes served (builtin CUSTOM with a registered name), and how many
  // nodes of the plan write each tensor (an output of ours must have one).
  PrepareState state;
  state.context = context;
  state.producers.assign(context->tensors_size, 0);
  std::vector<TensorUse> uses;  // what reads each tensor (ServedWiringFits)
  for (int i = 0; i < plan->size; ++i) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, plan->data[i], &node, &reg) !=
            tfl::kTfLiteOk ||
        node == nullptr || reg == nullptr) {
      continue;
    }
    if (node->outputs != nullptr) {
      for (int j = 0; j < node->outputs->size; ++j) {
        const int t = node->outputs->data[j];
        if (t >= 0 && static_cast<size_t>(t) < state.producers.size() &&
            state.producers[static_cast<size_t>(t)] < 255) {
          ++state.producers[static_cast<size_t>(t)];
        }
      }
    }
    for (int k = 0; node->inputs != nullptr && k < node->inputs->size; ++k) {
      if (node->inputs->data[k] >= 0) {
        uses.push_back(
            {node->inputs->data[k], AsV1(reg)->builtin_code, k, plan->data[i]});
      }
    }
    const Status fits = NodeWiringFits(context, reg, node);
    if (!fits.ok()) {
      context->ReportError(
          context,
          "%s: node %d %s; refusing the graph (the runtime would read or "
          "write out of bounds). The file is corrupt or was modified: convert "
          "the model again, and load files through hashed_keras.lite."
          "Interpreter, which verifies them",
          kDelegateName, plan->data[i], fits.message().c_str());
      return tfl::kTfLiteError;
    }
    if (ServedKind(reg) != nullptr) state.claimed.push_back(plan->data[i]);
  }
  std::sort(state.claimed.begin(), state.claimed.end());
  state.claimed.erase(std::unique(state.claimed.begin(), state.claimed.end()),
                      state.claimed.end());
  const std::vector<int>& claimed = state.claimed;
  // Reported by the kernel's Prepare unless a node's own checks (which say
  // more) fail first.
  std::stable_sort(uses.begin(), uses.end());
  state.wiring = ServedWiringFits(context, uses, claimed);
  if (!state.wiring.ok()) {
    state.wiring = Status::Error(
        state.wiring.message() + "; the graph would run with other numbers: "
        "the file is corrupt or was modified, convert the model again");
  } else if (self != nullptr && self->on_the_fly) {
    ChooseFused(context, uses, &state);
  }

  std::string how;
  size_t reg_size = MeasureRegistrationSize(context, plan, &how);
  if (reg_size == 0) {
    how = "default (" + how + ")";
    reg_size = kRegSizeV4;
  }
  if (verbose) {
    fprintf(stderr,
            "%s: TfLiteRegistration %zu bytes [%s]; TfLiteTensor %zu bytes "
            "[%s]; claiming %zu node(s), %zu FULLY_CONNECTED / CONV_2D on "
            "the fly; "
            "limits: max_virtual_weights %llu, max_rebuild_bytes %llu\n",
            kDelegateName, reg_size, how.c_str(), sizeof(tfl::TfLiteTensor),
            tensor_check.c_str(), claimed.size(), state.fused.size(),
            static_cast<unsigned long long>(self->max_virtual_weights),
            static_cast<unsigned long long>(self->max_rebuild_bytes));
  }
  if (claimed.empty()) return tfl::kTfLiteOk;

  auto* nodes = static_cast<TfLiteIntArray*>(
      malloc(sizeof(int) * (1 + claimed.size())));
  if (nodes == nullptr) return tfl::kTfLiteError;
  nodes->size = static_cast<int>(claimed.size());
  memcpy(nodes->data, claimed.data(), sizeof(int) * claimed.size());

  TfLiteRegistration reg;
  memset(&reg, 0, sizeof(reg));
  reg.init = KernelInit;
  reg.free = KernelFree;
  reg.prepare = KernelPrepare;
  reg.invoke = KernelInvoke;
  reg.builtin_code = tfl::kTfLiteBuiltinDelegate;
  reg.custom_name = kDelegateName;
  reg.version = 1;
  alignas(8) unsigned char bytes[kRegSizeMax];
  memset(bytes, 0, sizeof(bytes));  // fields beyond V4 stay zero
  memcpy(bytes, &reg, sizeof(reg));

  // KernelInit runs inside this call: it reads `state` through the delegate.
  if (self != nullptr) self->preparing = &state;
  const TfLiteStatus status =
      DispatchReplace<kRegSizeMin>(reg_size, context, bytes, nodes, base);
  if (self != nullptr) self->preparing = nullptr;
  free(nodes);
  return status;
}

bool ParseFlag(const char* value, bool* out) {
  if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
    *out = true;
    return true;
  }
  if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
    *out = false;
    return true;
  }
  return false;
}

// A limit option: a decimal integer in [0, 2^63] without sign or spaces; 0
// means `default_value`.
bool ParseLimit(const char* value, uint64_t default_value, uint64_t* out) {
  if (value[0] == '\0') return false;
  uint64_t v = 0;
  for (const char* p = value; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(*p - '0');
    if (v > ((uint64_t{1} << 63) - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *out = v == 0 ? default_value : v;
  return true;
}

}  // namespace
}  // namespace hk

extern "C" {

HK_API TfLiteDelegate* tflite_plugin_create_delegate(
    char** options_keys, char** options_values, size_t num_options,
    void (*report_error)(const char*)) {
  bool verbose = false;
  bool on_the_fly = false;
  uint64_t max_virtual_weights = HK_DEFAULT_MAX_VIRTUAL_WEIGHTS;
  uint64_t max_rebuild_bytes = HK_DEFAULT_MAX_REBUILD_BYTES;
  for (size_t i = 0; i < num_options; ++i) {
    const char* key = options_keys ? options_keys[i] : nullptr;
    const char* value = options_values ? options_values[i] : nullptr;
    if (key && value) {
      if (strcmp(key, "verbose") == 0 && hk::ParseFlag(value, &verbose)) {
        continue;
      }
      if (strcmp(key, "weights") == 0 &&
          (strcmp(value, "rebuilt") == 0 || strcmp(value, "on_the_fly") == 0)) {
        on_the_fly = strcmp(value, "on_the_fly") == 0;
        continue;
      }
      if (strcmp(key, "max_virtual_weights") == 0 &&
          hk::ParseLimit(value, HK_DEFAULT_MAX_VIRTUAL_WEIGHTS,
                         &max_virtual_weights)) {
        continue;
      }
      if (strcmp(key, "max_rebuild_bytes") == 0 &&
          hk::ParseLimit(value, HK_DEFAULT_MAX_REBUILD_BYTES,
                         &max_rebuild_bytes)) {
        continue;
      }
    }
    if (report_error) {
      const bool known = key && (strcmp(key, "verbose") == 0 ||
                                 strcmp(key, "weights") == 0 ||
                                 strcmp(key, "max_virtual_weights") == 0 ||
                                 strcmp(key, "max_rebuild_bytes") == 0);
      std::string m = std::string("hashed_keras delegate: ") +
                      (known ? "invalid value for option '"
                             : "unknown option '") +
                      hk::Printable(key) + "' = '" + hk::Printable(value) +
                      "' (known: verbose = 0|1, weights = rebuilt|on_the_fly, "
                      "max_virtual_weights = N, "
                      "max_rebuild_bytes = N, N a decimal integer in [0, "
                      "2^63], 0 meaning the default)";
      report_error(m.c_str());
    }
    return nullptr;
  }
  auto* d = new (std::nothrow) hk::HkDelegate;
  if (d == nullptr) return nullptr;
  memset(&d->base, 0, sizeof(d->base));
  memset(d->spare, 0, sizeof(d->spare));
  d->base.data_ = d;
  d->base.Prepare = hk::DelegatePrepare;
  d->base.flags = hk::tfl::kTfLiteDelegateFlagsAllowDynamicTensors;
  d->verbose = verbose;
  d->on_the_fly = on_the_fly;
  d->max_virtual_weights = max_virtual_weights;
  d->max_rebuild_bytes = max_rebuild_bytes;
  return reinterpret_cast<TfLiteDelegate*>(&d->base);
}

HK_API void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  if (delegate == nullptr) return;
  auto* base = reinterpret_cast<hk::tfl::TfLiteDelegate*>(delegate);
  delete static_cast<hk::HkDelegate*>(base->data_);
}

}  // extern "C"
