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

#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "hk_kernels.h"
#include "op_registry.h"
#include "tflite_abi.h"

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

struct HkDelegate {
  TfLiteDelegate base;  // what the runtime sees: must be the first member
  // Zeroed room after the struct, in case a runtime newer than the layout
  // declared here reads fields appended to TfLiteDelegate.
  void* spare[16];
  bool verbose;
};

// ---------------------------------------------------------------------------
// The delegate kernel: one per partition of claimed nodes.
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

struct KernelNode {
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::unique_ptr<OpKernel> kernel;
  NodeIo io;
  // Constant outputs (see above): the data, and each tensor's former
  // allocation type.
  std::vector<std::unique_ptr<float[]>> owned;
  std::vector<tfl::TfLiteAllocationType> former_allocation;
  bool constant = false;
};

struct DelegateKernel {
  std::vector<KernelNode> nodes;
  std::string init_error;
};

// A registration owned by the runtime, seen through the prefix all layouts
// share (see tflite_abi.h).
const tfl::TfLiteRegistrationV1* AsV1(const TfLiteRegistration* reg) {
  return reinterpret_cast<const tfl::TfLiteRegistrationV1*>(reg);
}

std::vector<int> CopyIndices(const TfLiteIntArray* a) {
  std::vector<int> v;
  if (a != nullptr && a->size > 0) v.assign(a->data, a->data + a->size);
  return v;
}

// Whether every (non-optional) input is a model constant with its data.
bool InputsAreConstant(TfLiteContext* context, const NodeIo& io) {
  for (int i = 0; i < io.num_inputs; ++i) {
    if (io.inputs[i] == tfl::kTfLiteOptionalTensor) continue;
    const tfl::TfLiteTensor* t = TensorAt(context, io.inputs[i]);
    if (t == nullptr || t->allocation_type != tfl::kTfLiteMmapRo ||
        !HasDataForDims(t)) {
      return false;
    }
  }
  return true;
}

// Float32 views of a node's inputs for Compute: float32 tensors as they are,
// int8 ones (shared variables, validated by Check) dequantized into
// `scratch`. False if an input has no data for its dims.
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
    if (!HasDataForDims(t)) return false;
    if (t->type == tfl::kTfLiteFloat32) {
      views[i] = t->data.f;
      continue;
    }
    if (t->type != tfl::kTfLiteInt8) return false;
    const size_t count = t->bytes;  // HasDataForDims: >= the dims' elements
    scratch->emplace_back(count);
    const auto* q = reinterpret_cast<const int8_t*>(t->data.raw);
    const float scale = t->params.scale;
    for (size_t j = 0; j < count; ++j) scratch->back()[j] = scale * q[j];
    views[i] = scratch->back().data();
  }
  return true;
}

// Computes a node with constant inputs into owned memory and turns its
// outputs into constants. Does nothing (leaving errors to Prepare) if the
// inputs are not constant or the node is invalid.
void MakeConstant(TfLiteContext* context, KernelNode* kn) {
  if (!InputsAreConstant(context, kn->io)) return;
  std::vector<OutputShape> shapes;
  if (!kn->kernel->Check(context, kn->io, &shapes).empty() ||
      static_cast<int>(shapes.size()) != kn->io.num_outputs) {
    return;
  }
  std::vector<std::unique_ptr<float[]>> owned;
  std::vector<float*> pointers;
  for (const OutputShape& shape : shapes) {
    const uint64_t count = shape.Count();
    if (count == 0 || count > SIZE_MAX / sizeof(float)) return;
    owned.emplace_back(new (std::nothrow) float[static_cast<size_t>(count)]);
    if (!owned.back()) return;  // out of memory: computed at invoke instead
    pointers.push_back(owned.back().get());
  }
  std::vector<std::vector<float>> dequantized;
  const float* inputs[kMaxOpInputs];
  if (!InputViews(context, kn->io, &dequantized, inputs)) return;
  kn->kernel->Compute(inputs, pointers.data());
  kn->former_allocation.clear();
  for (size_t i = 0; i < shapes.size(); ++i) {
    tfl::TfLiteTensor* t = TensorAt(context, kn->io.outputs[i]);
    kn->former_allocation.push_back(t->allocation_type);
    t->allocation_type = tfl::kTfLiteMmapRo;
    t->data.raw = reinterpret_cast<char*>(pointers[i]);
    t->bytes = static_cast<size_t>(shapes[i].Count()) * sizeof(float);
  }
  kn->owned = std::move(owned);
  kn->constant = true;
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

// Whether the constant outputs are still the tensors' data.
bool ConstantIntact(TfLiteContext* context, const KernelNode& kn) {
  for (size_t i = 0; i < kn.owned.size(); ++i) {
    const tfl::TfLiteTensor* t = TensorAt(context, kn.io.outputs[i]);
    if (t == nullptr || t->allocation_type != tfl::kTfLiteMmapRo ||
        t->data.raw != reinterpret_cast<const char*>(kn.owned[i].get())) {
      return false;
    }
  }
  return true;
}

void* KernelInit(TfLiteContext* context, const char* buffer, size_t) {
  auto* kernel = new (std::nothrow) DelegateKernel;
  if (kernel == nullptr) return nullptr;
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  if (params == nullptr || params->nodes_to_replace == nullptr) {
    kernel->init_error = "no delegate parameters";
    return kernel;
  }
  const TfLiteIntArray* nodes = params->nodes_to_replace;
  kernel->nodes.reserve(static_cast<size_t>(nodes->size > 0 ? nodes->size : 0));
  for (int i = 0; i < nodes->size; ++i) {
    const int node_index = nodes->data[i];
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, node_index, &node, &reg) !=
            tfl::kTfLiteOk ||
        node == nullptr || reg == nullptr) {
      kernel->init_error =
          "cannot read node " + std::to_string(node_index) + " in Init";
      return kernel;
    }
    const OpKind* kind = FindOpKind(AsV1(reg)->custom_name);
    if (kind == nullptr) {
      kernel->init_error =
          "node " + std::to_string(node_index) + " is not a served op";
      return kernel;
    }
    KernelNode kn;
    kn.inputs = CopyIndices(node->inputs);
    kn.outputs = CopyIndices(node->outputs);
    const size_t length = node->custom_initial_data_size > 0
                              ? static_cast<size_t>(node->custom_initial_data_size)
                              : 0;
    const uint8_t* options =
        length ? static_cast<const uint8_t*>(node->custom_initial_data) : nullptr;
    kn.kernel.reset(kind->create(options, length));
    if (!kn.kernel) {
      kernel->init_error = "out of memory";
      return kernel;
    }
    kn.io.node_index = node_index;
    kn.io.op_name = kind->custom_name;
    kernel->nodes.push_back(std::move(kn));
  }
  // The vectors no longer move: point the views at them.
  for (KernelNode& kn : kernel->nodes) {
    kn.io.inputs = kn.inputs.data();
    kn.io.num_inputs = static_cast<int>(kn.inputs.size());
    kn.io.outputs = kn.outputs.data();
    kn.io.num_outputs = static_cast<int>(kn.outputs.size());
    MakeConstant(context, &kn);
  }
  return kernel;
}

void KernelFree(TfLiteContext* context, void* buffer) {
  auto* kernel = static_cast<DelegateKernel*>(buffer);
  if (kernel == nullptr) return;
  for (KernelNode& kn : kernel->nodes) ReleaseConstant(context, &kn);
  delete kernel;
}

TfLiteStatus KernelCheck(TfLiteContext* context, const DelegateKernel* k) {
  if (k == nullptr) {
    context->ReportError(context, "%s: kernel was not initialised",
                         kDelegateName);
    return tfl::kTfLiteError;
  }
  if (!k->init_error.empty()) {
    context->ReportError(context, "%s: %s", kDelegateName,
                         k->init_error.c_str());
    return tfl::kTfLiteError;
  }
  return tfl::kTfLiteOk;
}

// Validates a node that is computed at invoke; `shapes` receives its outputs.
TfLiteStatus CheckNode(TfLiteContext* context, KernelNode& kn,
                       std::vector<OutputShape>* shapes) {
  const std::string error = kn.kernel->Check(context, kn.io, shapes);
  if (!error.empty()) return NodeError(context, kn.io, error);
  if (static_cast<int>(shapes->size()) != kn.io.num_outputs) {
    return NodeError(context, kn.io, "internal error: output count");
  }
  return tfl::kTfLiteOk;
}

TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  auto* k = static_cast<DelegateKernel*>(node->user_data);
  if (KernelCheck(context, k) != tfl::kTfLiteOk) return tfl::kTfLiteError;
  for (KernelNode& kn : k->nodes) {
    if (kn.constant) {
      if (ConstantIntact(context, kn)) continue;
      return NodeError(context, kn.io,
                       "its constant outputs were changed by another party");
    }
    std::vector<OutputShape> shapes;
    if (CheckNode(context, kn, &shapes) != tfl::kTfLiteOk) {
      return tfl::kTfLiteError;
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (ResizeTo(context, TensorAt(context, kn.io.outputs[i]),
                   shapes[i].dims, shapes[i].rank) != tfl::kTfLiteOk) {
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
    if (kn.constant) continue;
    // Not a constant: validate again (cheap) and check every buffer before
    // touching it.
    std::vector<OutputShape> shapes;
    if (CheckNode(context, kn, &shapes) != tfl::kTfLiteOk) {
      return tfl::kTfLiteError;
    }
    std::vector<std::vector<float>> dequantized;
    const float* inputs[kMaxOpInputs];
    if (!InputViews(context, kn.io, &dequantized, inputs)) {
      return NodeError(context, kn.io, "an input has no data or too few "
                                       "bytes (call allocate_tensors first)");
    }
    std::vector<float*> outputs;
    for (size_t i = 0; i < shapes.size(); ++i) {
      tfl::TfLiteTensor* t = TensorAt(context, kn.io.outputs[i]);
      const uint64_t count = shapes[i].Count();
      if (t->data.raw == nullptr || count > SIZE_MAX / sizeof(float) ||
          t->bytes < count * sizeof(float)) {
        return NodeError(context, kn.io, "outputs were not allocated (call "
                                         "allocate_tensors first)");
      }
      outputs.push_back(t->data.f);
    }
    kn.kernel->Compute(inputs, outputs.data());
  }
  return tfl::kTfLiteOk;
}

// ---------------------------------------------------------------------------
// Calling ReplaceNodeSubsetsWithDelegateKernels with the runtime's
// registration size.

constexpr size_t kRegSizeMin = HK_TFL_REG_SIZE_V1;
constexpr size_t kRegSizeV4 = HK_TFL_REG_SIZE_V4;
constexpr size_t kRegSizeMax = kRegSizeV4 + 8 * sizeof(uint64_t);

// A by-value argument of N bytes laid out like the runtime's registration:
// the same size and alignment (V4+ contains a uint64_t; V1-V3 only pointers
// and ints), so every calling convention passes it the same way.
template <size_t N>
struct RegArg {
  using Word =
      typename std::conditional<(N >= kRegSizeV4), uint64_t, uintptr_t>::type;
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
  if constexpr (N % sizeof(typename RegArg<N>::Word) == 0) {
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
  const auto* self = static_cast<const HkDelegate*>(base->data_);
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
  std::vector<int> claimed;
  for (int i = 0; i < plan->size; ++i) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, plan->data[i], &node, &reg) !=
            tfl::kTfLiteOk ||
        reg == nullptr) {
      continue;
    }
    if (AsV1(reg)->builtin_code == tfl::kTfLiteBuiltinCustom &&
        FindOpKind(AsV1(reg)->custom_name) != nullptr) {
      claimed.push_back(plan->data[i]);
    }
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
            "[%s]; claiming %zu node(s)\n",
            kDelegateName, reg_size, how.c_str(), sizeof(tfl::TfLiteTensor),
            tensor_check.c_str(), claimed.size());
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

  const TfLiteStatus status =
      DispatchReplace<kRegSizeMin>(reg_size, context, bytes, nodes, base);
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

}  // namespace
}  // namespace hk

extern "C" {

HK_API TfLiteDelegate* tflite_plugin_create_delegate(
    char** options_keys, char** options_values, size_t num_options,
    void (*report_error)(const char*)) {
  bool verbose = false;
  for (size_t i = 0; i < num_options; ++i) {
    const char* key = options_keys ? options_keys[i] : nullptr;
    const char* value = options_values ? options_values[i] : nullptr;
    if (key && value && strcmp(key, "verbose") == 0 &&
        hk::ParseFlag(value, &verbose)) {
      continue;
    }
    if (report_error) {
      std::string m = std::string("hashed_keras delegate: unknown option '") +
                      (key ? key : "(null)") + "' = '" +
                      (value ? value : "(null)") +
                      "' (known: verbose = 0|1)";
      report_error(m.c_str());
    }
    return nullptr;
  }
  auto* d = new (std::nothrow) hk::HkDelegate;
  if (d == nullptr) return nullptr;
  memset(d, 0, sizeof(*d));
  d->base.data_ = d;
  d->base.Prepare = hk::DelegatePrepare;
  d->base.flags = hk::tfl::kTfLiteDelegateFlagsAllowDynamicTensors;
  d->verbose = verbose;
  return reinterpret_cast<TfLiteDelegate*>(&d->base);
}

HK_API void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  if (delegate == nullptr) return;
  auto* base = reinterpret_cast<hk::tfl::TfLiteDelegate*>(delegate);
  delete static_cast<hk::HkDelegate*>(base->data_);
}

}  // extern "C"
