// Test driver for the kernels, without a TFLite runtime (ci_checks.sh runs it
// under ASan/UBSan):
//  1. xxh32 against the contract's test vectors;
//  2. hk_hashed_weights on valid options against a naive reference;
//  3. wrong buffer lengths, every truncation, single-byte corruptions and
//     random bytes: an error or a correct result, never a crash;
//  4. the delegate plugin driven by a small fake runtime (its TfLiteContext
//     functions, nodes stored as (node, registration) pairs like TFLite's):
//     constant and non-constant inputs, and bad shapes reported as errors.
//
// Usage: hk_kernel_test                 run everything
//        hk_kernel_test --write-corpus DIR   write the valid options as files
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "hash_contract.h"
#include "fresh_weights.h"
#include "hashed_weights.h"
#include "hk_kernels.h"
#include "op_registry.h"
#include "simd_hash.h"
#include "smh_weights.h"
#include "tflite_abi.h"

#include "option_samples.inc"

namespace {

// ---------------------------------------------------------------------------
// Reference: the contract written out naively.

std::vector<float> Reference(const hk::HashedWeightsPlan& p,
                             const std::vector<float>& buckets,
                             const std::vector<float>& scale,
                             std::vector<float>* bias) {
  const uint32_t seed_h = hk_xxh32(0, p.seed), seed_s = hk_xxh32(1, p.seed);
  auto virtual_at = [&](uint64_t key) {
    const uint32_t k = static_cast<uint32_t>(key);
    const float w = buckets[hk_xxh32(k, seed_h) % p.num_buckets];
    const bool negative = p.use_sign && hk_xxh32(k, seed_s) >= 0x80000000u;
    return negative ? -w : w;
  };
  std::vector<float> out(p.kernel_size);
  for (uint64_t o = 0; o < p.out; ++o) {
    for (uint64_t r = 0; r < p.rows; ++r) {
      const float s = scale.empty() ? 1.0f : scale[o];
      out[o * p.rows + r] = scale.empty() ? virtual_at(r * p.out + o)
                                          : virtual_at(r * p.out + o) * s;
    }
  }
  bias->clear();
  if (p.hash_bias) {
    for (uint64_t o = 0; o < p.bias_size; ++o) {
      bias->push_back(virtual_at(p.kernel_size + o));
    }
  }
  return out;
}

std::vector<float> Ramp(size_t n, float a) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = a * static_cast<float>(i) - 0.5f;
  return v;
}

// Runs hk_hashed_weights with buffers sized from the parsed plan. Returns the
// status; checks the error message is terminated and, on success, compares
// against the reference when `compare`.
int RunExact(const unsigned char* data, size_t size, bool compare,
             bool with_scale, uint64_t max_compute) {
  char error[256];
  memset(error, 'x', sizeof(error));
  hk::HashedWeightsPlan plan;
  const hk::Status parsed = hk::ParseHashedWeightsOptions(data, size, &plan);
  if (!parsed.ok()) {
    const int rc = hk_hashed_weights(data, size, nullptr, 0, nullptr, 0,
                                     nullptr, 0, nullptr, 0, error,
                                     sizeof(error));
    CHECK(rc == HK_ERROR_OPTIONS, "rc=%d", rc);
    CHECK(memchr(error, 0, sizeof(error)) != nullptr, "error not terminated");
    CHECK(strlen(error) > 0, "empty error message");
    return rc;
  }
  if (plan.kernel_size > max_compute) return HK_OK;  // keep loops fast
  std::vector<float> buckets = Ramp(plan.num_buckets, 0.25f);
  std::vector<float> scale = with_scale ? Ramp(plan.out, 0.5f)
                                        : std::vector<float>();
  std::vector<float> out(plan.kernel_size, -1.0f);
  std::vector<float> bias(plan.hash_bias ? plan.bias_size : 0, -1.0f);
  const int rc = hk_hashed_weights(
      data, size, buckets.data(), static_cast<int64_t>(buckets.size()),
      with_scale ? scale.data() : nullptr, static_cast<int64_t>(scale.size()),
      out.data(), static_cast<int64_t>(out.size()),
      plan.hash_bias ? bias.data() : nullptr,
      static_cast<int64_t>(bias.size()), error, sizeof(error));
  CHECK(rc == HK_OK, "rc=%d: %s", rc, error);
  if (compare && rc == HK_OK) {
    std::vector<float> want_bias;
    const std::vector<float> want = Reference(plan, buckets, scale, &want_bias);
    CHECK(want == out, "weights differ from the reference");
    CHECK(want_bias == bias, "bias differs from the reference");
  }
  return rc;
}

void TestXxh32() {
  const struct { uint32_t key, seed, want; } vectors[] = {
      {0u, 0u, 0x08d6d969u},          {1u, 0u, 0xf3bb7693u},
      {0u, 1691u, 0x91db7584u},       {123456789u, 42u, 0xa77bd4e9u},
      {4294967295u, 4294967295u, 0x20e3fb57u},
  };
  for (const auto& v : vectors) {
    CHECK(hk_xxh32(v.key, v.seed) == v.want, "xxh32(%u, %u) = 0x%08x", v.key,
          v.seed, hk_xxh32(v.key, v.seed));
  }
}

void TestValidSamples() {
  for (const OptionSample& s : kOptionSamples) {
    CHECK(RunExact(s.data, s.size, true, false, 1u << 20) == HK_OK, "%s",
          s.name);
    CHECK(RunExact(s.data, s.size, true, true, 1u << 20) == HK_OK, "%s",
          s.name);
  }
}

void TestWrongLengths() {
  const OptionSample& s = kOptionSamples[0];  // fc [5, 3], K = 7, no bias
  std::vector<float> buckets(7, 1.0f), scale(3, 1.0f), out(15), bias(3);
  char error[200];
  auto run = [&](int64_t k, const float* sc, int64_t sl, int64_t ol,
                 float* b, int64_t bl) {
    return hk_hashed_weights(s.data, s.size, buckets.data(), k, sc, sl,
                             out.data(), ol, b, bl, error, sizeof(error));
  };
  CHECK(run(7, nullptr, 0, 15, nullptr, 0) == HK_OK, "%s", error);
  CHECK(run(6, nullptr, 0, 15, nullptr, 0) == HK_ERROR_ARGUMENTS, "K");
  CHECK(strstr(error, "buckets") != nullptr, "%s", error);
  CHECK(run(7, nullptr, 0, 14, nullptr, 0) == HK_ERROR_ARGUMENTS, "out");
  CHECK(strstr(error, "output") != nullptr, "%s", error);
  CHECK(run(7, scale.data(), 2, 15, nullptr, 0) == HK_ERROR_ARGUMENTS, "sc");
  CHECK(run(7, nullptr, 3, 15, nullptr, 0) == HK_ERROR_ARGUMENTS, "sc null");
  CHECK(run(7, nullptr, 0, 15, bias.data(), 3) == HK_ERROR_ARGUMENTS, "bias");
  CHECK(run(-1, nullptr, 0, -5, nullptr, 0) == HK_ERROR_ARGUMENTS, "neg");
  // Null error buffer is allowed.
  CHECK(hk_hashed_weights(s.data, s.size, buckets.data(), 7, nullptr, 0,
                          out.data(), 15, nullptr, 0, nullptr, 0) == HK_OK,
        "null error buffer");
}

void TestCorruptions() {
  size_t runs = 0;
  for (const OptionSample& s : kOptionSamples) {
    std::vector<unsigned char> buf(s.data, s.data + s.size);
    // Every truncation, from either end.
    for (size_t n = 0; n < s.size; ++n) {
      std::vector<unsigned char> head(s.data, s.data + n);
      RunExact(head.data(), head.size(), true, false, 4096);
      std::vector<unsigned char> tail(s.data + s.size - n, s.data + s.size);
      RunExact(tail.data(), tail.size(), true, false, 4096);
      runs += 2;
    }
    // Every single-byte corruption.
    const unsigned char edits[] = {0x00, 0xff, 0x01, 0x80, 0x7f, 0x40};
    for (size_t i = 0; i < s.size; ++i) {
      for (unsigned char e : edits) {
        for (int mode = 0; mode < 2; ++mode) {
          std::vector<unsigned char> b = buf;
          b[i] = mode ? static_cast<unsigned char>(b[i] ^ e) : e;
          RunExact(b.data(), b.size(), true, (i & 1) != 0, 4096);
          ++runs;
        }
      }
    }
  }
  // Random bytes, and random bytes behind a valid-looking root trailer.
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    std::vector<unsigned char> b(rng() % 300);
    for (auto& c : b) c = static_cast<unsigned char>(rng());
    if (b.size() >= 2 && (i & 1)) {
      b[b.size() - 1] = static_cast<unsigned char>(1u << (rng() % 4));
      b[b.size() - 2] = static_cast<unsigned char>((9u << 2) | (rng() % 4));
    }
    RunExact(b.data(), b.size(), true, false, 4096);
    ++runs;
  }
  printf("corruptions: %zu runs without a crash\n", runs);
}

// Specific invalid options: message must name the problem. Built by editing
// a valid sample's bytes would be brittle, so these check messages produced
// by truncation-free flips only where stable (the Python tests cover every
// named case with freshly written options).
void TestMessages() {
  char error[256];
  const unsigned char garbage[] = {1, 2, 3, 4, 5};
  CHECK(hk_hashed_weights(garbage, sizeof(garbage), nullptr, 0, nullptr, 0,
                          nullptr, 0, nullptr, 0, error, sizeof(error)) ==
            HK_ERROR_OPTIONS, "garbage");
  CHECK(strstr(error, "FlexBuffers") != nullptr, "%s", error);
  CHECK(hk_hashed_weights(nullptr, 0, nullptr, 0, nullptr, 0, nullptr, 0,
                          nullptr, 0, error, sizeof(error)) == HK_ERROR_OPTIONS,
        "empty");
  // Truncated error buffer.
  char tiny[4];
  hk_hashed_weights(garbage, sizeof(garbage), nullptr, 0, nullptr, 0, nullptr,
                    0, nullptr, 0, tiny, sizeof(tiny));
  CHECK(tiny[3] == '\0', "tiny buffer not terminated");
}

// ---------------------------------------------------------------------------
// A fake runtime for the delegate.

namespace tfl = hk::tfl;

struct FakeRuntime {
  std::vector<tfl::TfLiteTensor> tensors;
  std::vector<std::pair<tfl::TfLiteNode, tfl::TfLiteRegistration>> nodes;
  std::vector<int> plan;
  tfl::TfLiteContext context;
  std::string last_error;
  tfl::TfLiteRegistration delegate_reg;
  std::vector<int> replaced;
  std::vector<void*> owned;  // IntArrays and data we allocated
  // Like TFLite: ReplaceNodeSubsetsWithDelegateKernels calls the kernel's
  // Init (with `extra_replace` appended to the nodes, to test Init alone).
  bool init_in_replace = false;
  std::vector<int> extra_replace;
  tfl::TfLiteDelegateParams params;
  void* user_data = nullptr;

  ~FakeRuntime() {
    for (auto& t : tensors) {
      free(t.dims);
      if (t.allocation_type != tfl::kTfLiteMmapRo) free(t.data.raw);
    }
    for (void* p : owned) free(p);
  }
};

FakeRuntime* g_rt = nullptr;

tfl::TfLiteIntArray* MakeArray(const std::vector<int>& v) {
  auto* a = static_cast<tfl::TfLiteIntArray*>(
      malloc(sizeof(int) * (1 + v.size())));
  a->size = static_cast<int>(v.size());
  for (size_t i = 0; i < v.size(); ++i) a->data[i] = v[i];
  return a;
}

tfl::TfLiteStatus FakeGetExecutionPlan(tfl::TfLiteContext*,
                                       tfl::TfLiteIntArray** plan) {
  auto* a = MakeArray(g_rt->plan);
  g_rt->owned.push_back(a);
  *plan = a;
  return tfl::kTfLiteOk;
}

tfl::TfLiteStatus FakeGetNode(tfl::TfLiteContext*, int index,
                              tfl::TfLiteNode** node,
                              tfl::TfLiteRegistration** reg) {
  if (index < 0 || static_cast<size_t>(index) >= g_rt->nodes.size()) {
    return tfl::kTfLiteError;
  }
  *node = &g_rt->nodes[index].first;
  *reg = &g_rt->nodes[index].second;
  return tfl::kTfLiteOk;
}

tfl::TfLiteStatus FakeReplace(tfl::TfLiteContext*, tfl::TfLiteRegistration reg,
                              const tfl::TfLiteIntArray* nodes,
                              tfl::TfLiteDelegate* delegate) {
  g_rt->delegate_reg = reg;
  g_rt->replaced.assign(nodes->data, nodes->data + nodes->size);
  if (g_rt->init_in_replace) {
    std::vector<int> all = g_rt->replaced;
    all.insert(all.end(), g_rt->extra_replace.begin(),
               g_rt->extra_replace.end());
    memset(&g_rt->params, 0, sizeof(g_rt->params));
    g_rt->params.delegate = delegate;
    g_rt->params.nodes_to_replace = MakeArray(all);
    g_rt->owned.push_back(g_rt->params.nodes_to_replace);
    // One partition whose outputs are every output of its nodes (as if all
    // were read outside it).
    std::vector<int> outputs;
    for (int index : g_rt->replaced) {
      const tfl::TfLiteIntArray* o = g_rt->nodes[static_cast<size_t>(index)].first.outputs;
      outputs.insert(outputs.end(), o->data, o->data + o->size);
    }
    g_rt->params.output_tensors = MakeArray(outputs);
    g_rt->owned.push_back(g_rt->params.output_tensors);
    g_rt->user_data = reg.init(&g_rt->context,
                               reinterpret_cast<const char*>(&g_rt->params), 0);
  }
  return tfl::kTfLiteOk;
}

tfl::TfLiteStatus FakeResize(tfl::TfLiteContext*, tfl::TfLiteTensor* t,
                             tfl::TfLiteIntArray* dims) {
  size_t n = 1;
  for (int i = 0; i < dims->size; ++i) n *= static_cast<size_t>(dims->data[i]);
  free(t->dims);
  t->dims = dims;
  t->bytes = n * sizeof(float);
  if (t->allocation_type != tfl::kTfLiteMmapRo) {
    free(t->data.raw);
    t->data.raw = static_cast<char*>(malloc(t->bytes ? t->bytes : 1));
  }
  return tfl::kTfLiteOk;
}

void FakeReportError(tfl::TfLiteContext*, const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buf, sizeof(buf), format, args);
  va_end(args);
  g_rt->last_error = buf;
}

void AddTensor(FakeRuntime* rt, const char* name, std::vector<int> shape,
               tfl::TfLiteAllocationType alloc, const float* data) {
  tfl::TfLiteTensor t;
  memset(&t, 0, sizeof(t));
  t.type = tfl::kTfLiteFloat32;
  t.dims = MakeArray(shape);
  t.name = name;
  t.allocation_type = alloc;
  t.buffer_handle = -1;
  size_t n = 1;
  for (int d : shape) n *= static_cast<size_t>(d);
  t.bytes = n * sizeof(float);
  if (alloc == tfl::kTfLiteMmapRo) {
    t.data.raw = const_cast<char*>(reinterpret_cast<const char*>(data));
  } else if (data != nullptr) {
    t.data.raw = static_cast<char*>(malloc(t.bytes));
    memcpy(t.data.raw, data, t.bytes);
  }
  rt->tensors.push_back(t);
}

void AddNode(FakeRuntime* rt, int32_t builtin, const char* custom_name,
             std::vector<int> inputs, std::vector<int> outputs,
             const unsigned char* options, size_t options_size) {
  tfl::TfLiteNode node;
  memset(&node, 0, sizeof(node));
  node.inputs = MakeArray(inputs);
  node.outputs = MakeArray(outputs);
  rt->owned.push_back(node.inputs);
  rt->owned.push_back(node.outputs);
  node.custom_initial_data = options;
  node.custom_initial_data_size = static_cast<int>(options_size);
  tfl::TfLiteRegistration reg;
  memset(&reg, 0, sizeof(reg));
  reg.builtin_code = builtin;
  reg.custom_name = custom_name;
  rt->nodes.emplace_back(node, reg);
  rt->plan.push_back(static_cast<int>(rt->nodes.size() - 1));
}

void InitContext(FakeRuntime* rt) {
  memset(&rt->context, 0, sizeof(rt->context));
  rt->context.tensors_size = rt->tensors.size();
  rt->context.tensors = rt->tensors.data();
  rt->context.GetExecutionPlan = FakeGetExecutionPlan;
  rt->context.GetNodeAndRegistration = FakeGetNode;
  rt->context.ReplaceNodeSubsetsWithDelegateKernels = FakeReplace;
  rt->context.ResizeTensor = FakeResize;
  rt->context.ReportError = FakeReportError;
}

// Runs the delegate over a graph [HashedWeights(buckets) -> weights, FC].
// Returns the prepare status; `weights` receives output 0 after invoke.
tfl::TfLiteStatus RunDelegate(const OptionSample& s, bool constant,
                              std::vector<int> weights_shape,
                              std::vector<float>* weights,
                              std::string* error) {
  hk::HashedWeightsPlan plan;
  const hk::Status parsed = hk::ParseHashedWeightsOptions(s.data, s.size, &plan);
  if (!parsed.ok()) {
    *error = parsed.message();
    return tfl::kTfLiteError;
  }
  FakeRuntime rt;
  g_rt = &rt;
  const std::vector<float> buckets = Ramp(plan.num_buckets, 0.25f);
  AddTensor(&rt, "buckets", {static_cast<int>(plan.num_buckets)},
            constant ? tfl::kTfLiteMmapRo : tfl::kTfLiteArenaRw,
            buckets.data());
  AddTensor(&rt, "weights", weights_shape, tfl::kTfLiteArenaRw, nullptr);
  std::vector<int> outputs = {1};
  if (plan.hash_bias) {
    AddTensor(&rt, "bias", {static_cast<int>(plan.bias_size)},
              tfl::kTfLiteArenaRw, nullptr);
    outputs.push_back(2);
  }
  AddNode(&rt, 32, "HashedWeights", {0}, outputs, s.data, s.size);
  // FULLY_CONNECTED(x, weights) -> y stand-in (its wiring fits the builtin's).
  const int x = static_cast<int>(rt.tensors.size());
  AddTensor(&rt, "x", {1, weights_shape.back()}, tfl::kTfLiteArenaRw, nullptr);
  AddTensor(&rt, "y", {1, weights_shape.front()}, tfl::kTfLiteArenaRw, nullptr);
  AddNode(&rt, 9, nullptr, {x, 1}, {x + 1}, nullptr, 0);
  InitContext(&rt);

  char* keys[] = {const_cast<char*>("verbose")};
  char* values[] = {const_cast<char*>("0")};
  auto* d = reinterpret_cast<tfl::TfLiteDelegate*>(
      tflite_plugin_create_delegate(keys, values, 1, nullptr));
  CHECK(d != nullptr, "create_delegate");
  CHECK(d->flags == tfl::kTfLiteDelegateFlagsAllowDynamicTensors, "flags");
  CHECK(d->Prepare(&rt.context, d) == tfl::kTfLiteOk, "delegate prepare: %s",
        rt.last_error.c_str());
  CHECK(rt.replaced.size() == 1 && rt.replaced[0] == 0, "claimed node 0");

  // The runtime's side: init / prepare / invoke / free of the kernel.
  tfl::TfLiteDelegateParams params;
  params.delegate = d;
  params.nodes_to_replace = MakeArray({0});
  params.input_tensors = MakeArray({0});
  params.output_tensors = MakeArray(outputs);
  rt.owned.push_back(params.nodes_to_replace);
  rt.owned.push_back(params.input_tensors);
  rt.owned.push_back(params.output_tensors);
  const tfl::TfLiteRegistration& reg = rt.delegate_reg;
  CHECK(reg.builtin_code == tfl::kTfLiteBuiltinDelegate, "builtin_code");
  CHECK(reg.inplace_operator == 0 && reg.registration_external == nullptr,
        "zeroed tail fields");
  tfl::TfLiteNode node;
  memset(&node, 0, sizeof(node));
  node.user_data = reg.init(&rt.context, reinterpret_cast<const char*>(&params),
                            0);
  node.inputs = params.input_tensors;
  node.outputs = params.output_tensors;
  node.builtin_data = &params;
  tfl::TfLiteStatus status = reg.prepare(&rt.context, &node);
  *error = rt.last_error;
  if (status == tfl::kTfLiteOk) {
    const tfl::TfLiteTensor& w = rt.tensors[1];
    CHECK((w.allocation_type == tfl::kTfLiteMmapRo) == constant,
          "constant iff the inputs are");
    // A second prepare (allocate_tensors twice) must be harmless.
    CHECK(reg.prepare(&rt.context, &node) == tfl::kTfLiteOk, "prepare twice");
    CHECK(reg.invoke(&rt.context, &node) == tfl::kTfLiteOk, "invoke: %s",
          rt.last_error.c_str());
    weights->assign(w.data.f, w.data.f + w.bytes / sizeof(float));
  }
  reg.free(&rt.context, node.user_data);
  if (status == tfl::kTfLiteOk && constant) {
    // Free gives the constant outputs back as arena tensors without data.
    const tfl::TfLiteTensor& w = rt.tensors[1];
    CHECK(w.allocation_type == tfl::kTfLiteArenaRw && w.data.raw == nullptr,
          "outputs restored on free");
  }
  tflite_plugin_destroy_delegate(
      reinterpret_cast<struct TfLiteDelegate*>(d));
  g_rt = nullptr;
  return status;
}

void TestDelegate() {
  for (const OptionSample& s : kOptionSamples) {
    hk::HashedWeightsPlan plan;
    const hk::Status parsed = hk::ParseHashedWeightsOptions(s.data, s.size, &plan);
    CHECK(parsed.ok(), "%s", parsed.message().c_str());
    std::vector<int> shape;
    for (int i = 0; i < plan.kernel_rank; ++i) {
      shape.push_back(static_cast<int>(plan.OutputDim(i)));
    }
    std::vector<float> want_bias;
    const std::vector<float> want =
        Reference(plan, Ramp(plan.num_buckets, 0.25f), {}, &want_bias);
    for (bool constant : {true, false}) {
      std::vector<float> got;
      std::string error;
      CHECK(RunDelegate(s, constant, shape, &got, &error) == tfl::kTfLiteOk,
            "%s: %s", s.name, error.c_str());
      CHECK(got == want, "%s (constant=%d): delegate output differs", s.name,
            constant);
    }
    // A wrong output shape fails in prepare, with a message naming it.
    std::vector<int> bad = shape;
    bad[0] += 1;
    std::vector<float> got;
    std::string error;
    CHECK(RunDelegate(s, true, bad, &got, &error) == tfl::kTfLiteError,
          "%s: bad shape accepted", s.name);
    CHECK(error.find("output 0") != std::string::npos &&
              error.find("HashedWeights node 0") != std::string::npos,
          "%s: message '%s'", s.name, error.c_str());
  }
}

// Registration layouts of other sizes: a runtime storing (node, RegN) pairs
// and taking RegN by value must receive exactly its fields.
struct RegV1 {
  void* init; void* free; void* prepare; void* invoke; void* profiling_string;
  int32_t builtin_code; const char* custom_name; int version;
};
struct RegV3 {
  void* init; void* free; void* prepare; void* invoke; void* profiling_string;
  int32_t builtin_code; const char* custom_name; int version;
  void* registration_external; void* async_kernel;
};
struct RegV5 {  // a hypothetical future layout: V4 plus one field
  tfl::TfLiteRegistration v4;
  uint64_t future_field;
};

template <typename Reg>
struct SizedRuntime {
  static std::vector<std::pair<tfl::TfLiteNode, Reg>> nodes;
  static std::vector<int> replaced;
  static Reg received;
  static int calls;

  static tfl::TfLiteStatus GetNode(tfl::TfLiteContext*, int index,
                                   tfl::TfLiteNode** node,
                                   tfl::TfLiteRegistration** reg) {
    if (index < 0 || static_cast<size_t>(index) >= nodes.size()) {
      return tfl::kTfLiteError;
    }
    *node = &nodes[index].first;
    *reg = reinterpret_cast<tfl::TfLiteRegistration*>(&nodes[index].second);
    return tfl::kTfLiteOk;
  }
  static tfl::TfLiteStatus Replace(tfl::TfLiteContext*, Reg reg,
                                   const tfl::TfLiteIntArray* to_replace,
                                   tfl::TfLiteDelegate*) {
    received = reg;
    replaced.assign(to_replace->data, to_replace->data + to_replace->size);
    ++calls;
    return tfl::kTfLiteOk;
  }
};
template <typename Reg>
std::vector<std::pair<tfl::TfLiteNode, Reg>> SizedRuntime<Reg>::nodes;
template <typename Reg>
std::vector<int> SizedRuntime<Reg>::replaced;
template <typename Reg>
Reg SizedRuntime<Reg>::received;
template <typename Reg>
int SizedRuntime<Reg>::calls;

std::vector<int> g_sized_plan;
tfl::TfLiteStatus SizedPlan(tfl::TfLiteContext*, tfl::TfLiteIntArray** plan) {
  static tfl::TfLiteIntArray* array = nullptr;
  free(array);
  array = MakeArray(g_sized_plan);
  *plan = array;
  return tfl::kTfLiteOk;
}

template <typename Reg>
void CheckRegistrationSize(const char* name,
                           const char* (*custom_name)(const Reg&),
                           int32_t (*builtin)(const Reg&),
                           void* (*init)(const Reg&)) {
  using RT = SizedRuntime<Reg>;
  RT::nodes.clear();
  RT::calls = 0;
  for (int i = 0; i < 3; ++i) {
    std::pair<tfl::TfLiteNode, Reg> p;
    memset(&p, 0, sizeof(p));
    auto* r = reinterpret_cast<tfl::TfLiteRegistrationV1*>(&p.second);
    r->builtin_code = i == 1 ? 32 : 9;
    r->custom_name = i == 1 ? "HashedWeights" : nullptr;
    if (i != 1) {  // FULLY_CONNECTED stand-ins: wiring that fits the builtin
      static tfl::TfLiteIntArray* const kInputs = MakeArray({0, 0});
      static tfl::TfLiteIntArray* const kOutputs = MakeArray({0});
      p.first.inputs = kInputs;
      p.first.outputs = kOutputs;
    }
    RT::nodes.push_back(p);
  }
  g_sized_plan = {0, 1, 2};
  tfl::TfLiteTensor tensor;
  memset(&tensor, 0, sizeof(tensor));
  tensor.buffer_handle = -1;
  tfl::TfLiteContext context;
  memset(&context, 0, sizeof(context));
  context.tensors = &tensor;
  context.tensors_size = 1;
  context.GetExecutionPlan = SizedPlan;
  context.GetNodeAndRegistration = RT::GetNode;
  context.ReportError = FakeReportError;
  context.ReplaceNodeSubsetsWithDelegateKernels =
      reinterpret_cast<decltype(context.ReplaceNodeSubsetsWithDelegateKernels)>(
          reinterpret_cast<void*>(&RT::Replace));
  char* keys[] = {const_cast<char*>("verbose")};
  char* values[] = {const_cast<char*>("1")};
  auto* d = reinterpret_cast<tfl::TfLiteDelegate*>(
      tflite_plugin_create_delegate(keys, values, 1, nullptr));
  CHECK(d->Prepare(&context, d) == tfl::kTfLiteOk, "%s: prepare", name);
  CHECK(RT::calls == 1 && RT::replaced.size() == 1 && RT::replaced[0] == 1,
        "%s: replaced", name);
  CHECK(builtin(RT::received) == tfl::kTfLiteBuiltinDelegate, "%s: builtin",
        name);
  CHECK(custom_name(RT::received) != nullptr &&
            strcmp(custom_name(RT::received), "HashedKerasDelegate") == 0,
        "%s: custom_name", name);
  CHECK(init(RT::received) != nullptr, "%s: init", name);
  tflite_plugin_destroy_delegate(reinterpret_cast<struct TfLiteDelegate*>(d));
}

void TestRegistrationSizes() {
  CheckRegistrationSize<RegV1>(
      "V1", [](const RegV1& r) { return r.custom_name; },
      [](const RegV1& r) { return r.builtin_code; },
      [](const RegV1& r) { return r.init; });
  CheckRegistrationSize<RegV3>(
      "V3", [](const RegV3& r) { return r.custom_name; },
      [](const RegV3& r) { return r.builtin_code; },
      [](const RegV3& r) { return r.init; });
  CheckRegistrationSize<tfl::TfLiteRegistration>(
      "V4", [](const tfl::TfLiteRegistration& r) { return r.custom_name; },
      [](const tfl::TfLiteRegistration& r) { return r.builtin_code; },
      [](const tfl::TfLiteRegistration& r) {
        return reinterpret_cast<void*>(r.init);
      });
  CheckRegistrationSize<RegV5>(
      "V5", [](const RegV5& r) { return r.v4.custom_name; },
      [](const RegV5& r) { return r.v4.builtin_code; },
      [](const RegV5& r) { return reinterpret_cast<void*>(r.v4.init); });
  CHECK(SizedRuntime<RegV5>::received.future_field == 0, "V5 tail zeroed");
}

// ---------------------------------------------------------------------------
// FreshWeights: the contract's frequency keys and the inverse DCT written out
// naively (one direct double sum per output weight).

std::vector<float> FreshReference(const hk::FreshWeightsPlan& p,
                                  const std::vector<float>& buckets,
                                  const std::vector<float>& scale) {
  const uint32_t seed_h = hk_xxh32(0, p.seed), seed_s = hk_xxh32(1, p.seed);
  const int64_t kh = p.kernel_shape[0], kw = p.kernel_shape[1];
  const int64_t in = p.kernel_shape[2], out = p.kernel_shape[3];
  auto dct = [](int64_t n, int64_t j, int64_t y) {
    const double a = j == 0 ? sqrt(1.0 / n) : sqrt(2.0 / n);
    return a * cos(M_PI * (2 * y + 1) * j / (2.0 * n));
  };
  auto coefficient = [&](int64_t j1, int64_t j2, int64_t c, int64_t o) {
    const uint32_t key = static_cast<uint32_t>(((j1 * kw + j2) * in + c) * out + o);
    uint64_t offset = 0;
    for (int64_t b = 0; b < j1 + j2; ++b) offset += p.band_buckets[b];
    const double w = buckets[offset + hk_xxh32(key, seed_h) % p.band_buckets[j1 + j2]];
    return p.use_sign && hk_xxh32(key, seed_s) >= 0x80000000u ? -w : w;
  };
  std::vector<float> w(p.kernel_size);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t y = 0; y < kh; ++y)
      for (int64_t x = 0; x < kw; ++x)
        for (int64_t c = 0; c < in; ++c) {
          double acc = 0;
          for (int64_t j1 = 0; j1 < kh; ++j1)
            for (int64_t j2 = 0; j2 < kw; ++j2)
              acc += dct(kh, j1, y) * dct(kw, j2, x) * coefficient(j1, j2, c, o);
          if (!scale.empty()) acc *= scale[o];
          w[((o * kh + y) * kw + x) * in + c] = static_cast<float>(acc);
        }
  return w;
}

// hk_fresh_weights on `data`: refused with a message, or computed; compared
// with the reference when `compare`.
void RunFresh(const unsigned char* data, size_t size, bool compare) {
  char error[256];
  memset(error, 'x', sizeof(error));
  hk::FreshWeightsPlan plan;
  const hk::Status parsed = hk::ParseFreshWeightsOptions(data, size, &plan);
  if (!parsed.ok()) {
    const int rc = hk_fresh_weights(data, size, nullptr, 0, nullptr, 0,
                                    nullptr, 0, error, sizeof(error));
    CHECK(rc == HK_ERROR_OPTIONS, "rc=%d", rc);
    CHECK(memchr(error, 0, sizeof(error)) != nullptr && strlen(error) > 0,
          "error message");
    CHECK(!compare, "valid sample refused: %s", parsed.message().c_str());
    return;
  }
  if (plan.kernel_size > 4096) return;
  const std::vector<float> buckets = Ramp(plan.num_buckets, 0.25f);
  for (bool with_scale : {false, true}) {
    const std::vector<float> scale =
        with_scale ? Ramp(plan.out, 0.5f) : std::vector<float>();
    std::vector<float> got(plan.kernel_size, -7.0f);
    const int rc = hk_fresh_weights(
        data, size, buckets.data(), static_cast<int64_t>(buckets.size()),
        with_scale ? scale.data() : nullptr,
        static_cast<int64_t>(scale.size()), got.data(),
        static_cast<int64_t>(got.size()), error, sizeof(error));
    CHECK(rc == HK_OK, "rc=%d: %s", rc, error);
    if (!compare || rc != HK_OK) continue;
    const std::vector<float> want = FreshReference(plan, buckets, scale);
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(fabs(want[i] - got[i]) <= 1e-5 * (1.0 + fabs(want[i])),
            "fresh weight %zu: %g != %g", i, got[i], want[i]);
    }
  }
  // Wrong lengths are refused.
  std::vector<float> out(plan.kernel_size + 1);
  CHECK(hk_fresh_weights(data, size, buckets.data(),
                         static_cast<int64_t>(buckets.size()), nullptr, 0,
                         out.data(), static_cast<int64_t>(plan.kernel_size + 1),
                         error, sizeof(error)) == HK_ERROR_ARGUMENTS,
        "fresh: wrong output length accepted");
}

void TestFresh() {
  for (const OptionSample& s : kFreshOptionSamples) {
    RunFresh(s.data, s.size, true);
    // Every truncation and single-byte corruption: refused or computed.
    for (size_t n = 0; n < s.size; ++n) RunFresh(s.data, n, false);
    std::vector<unsigned char> b(s.data, s.data + s.size);
    for (size_t i = 0; i < b.size(); ++i) {
      const unsigned char keep = b[i];
      for (unsigned v : {0u, 1u, 0x7fu, 0x80u, 0xffu, keep ^ 0x10u}) {
        b[i] = static_cast<unsigned char>(v);
        RunFresh(b.data(), b.size(), false);
      }
      b[i] = keep;
    }
  }
  printf("fresh: %zu samples checked\n",
         sizeof(kFreshOptionSamples) / sizeof(kFreshOptionSamples[0]));
}

// SMHWeights: M-hat written out naively.
void RunSmh(const unsigned char* data, size_t size, bool compare) {
  char error[256];
  hk::SmhWeightsPlan p;
  const hk::Status parsed = hk::ParseSmhWeightsOptions(data, size, &p);
  if (!parsed.ok()) {
    const int rc = hk_smh_weights(data, size, nullptr, 0, nullptr, 0, nullptr, 0,
                                  nullptr, 0, nullptr, 0, nullptr, 0, error,
                                  sizeof(error));
    CHECK(rc == HK_ERROR_OPTIONS && strlen(error) > 0, "smh refusal");
    CHECK(!compare, "valid smh sample refused: %s", parsed.message().c_str());
    return;
  }
  if (p.rank * p.n > 4096 || p.kernel_size > 4096) return;
  const std::vector<float> u = Ramp(p.rank * p.n, 0.01f);
  const std::vector<float> v = Ramp(p.rank * p.n, -0.02f);
  const float scales[2] = {1.5f, -0.5f};
  const std::vector<float> channel = Ramp(p.out, 0.3f);
  std::vector<float> out(p.kernel_size), bias(p.bias_size);
  const int rc = hk_smh_weights(
      data, size, u.data(), static_cast<int64_t>(u.size()), v.data(),
      static_cast<int64_t>(v.size()), scales, 2, channel.data(),
      static_cast<int64_t>(channel.size()), out.data(),
      static_cast<int64_t>(out.size()), p.bias_size ? bias.data() : nullptr,
      static_cast<int64_t>(bias.size()), error, sizeof(error));
  CHECK(rc == HK_OK, "smh rc=%d: %s", rc, error);
  if (!compare || rc != HK_OK) return;
  auto mhat = [&](uint64_t pos) {
    double acc = 0;
    for (uint64_t m = 0; m < p.rank; ++m) {
      acc += static_cast<double>(u[m * p.n + pos / p.n]) * v[m * p.n + pos % p.n];
    }
    return acc;
  };
  for (uint64_t o = 0; o < p.out; ++o) {
    for (uint64_t r = 0; r < p.rows; ++r) {
      const double want = scales[0] * channel[o] * mhat(p.start + r * p.out + o);
      CHECK(fabs(out[o * p.rows + r] - want) <= 1e-5 * (1 + fabs(want)),
            "smh weight (%llu, %llu)", static_cast<unsigned long long>(o),
            static_cast<unsigned long long>(r));
    }
  }
  for (uint64_t o = 0; o < p.bias_size; ++o) {
    const double want = scales[1] * mhat(p.start + p.kernel_size + o);
    CHECK(fabs(bias[o] - want) <= 1e-5 * (1 + fabs(want)), "smh bias %llu",
          static_cast<unsigned long long>(o));
  }
}

void TestSmh() {
  for (const OptionSample& s : kSmhOptionSamples) {
    RunSmh(s.data, s.size, true);
    for (size_t n = 0; n < s.size; ++n) RunSmh(s.data, n, false);
    std::vector<unsigned char> b(s.data, s.data + s.size);
    for (size_t i = 0; i < b.size(); ++i) {
      const unsigned char keep = b[i];
      for (unsigned v : {0u, 1u, 0x7fu, 0x80u, 0xffu, keep ^ 0x10u}) {
        b[i] = static_cast<unsigned char>(v);
        RunSmh(b.data(), b.size(), false);
      }
      b[i] = keep;
    }
  }
  printf("smh: %zu samples checked\n",
         sizeof(kSmhOptionSamples) / sizeof(kSmhOptionSamples[0]));
}

// ---------------------------------------------------------------------------
// Hostile graphs (issue 11, classes 3-6) through the delegate on the fake
// runtime, whose ReplaceNodeSubsetsWithDelegateKernels calls Init as TFLite
// does. Every case ends in a status and one message, never a crash (ASan).

std::string g_create_error;
void CaptureCreateError(const char* message) { g_create_error = message; }

struct Outcome {
  bool created = false;
  tfl::TfLiteStatus applied = tfl::kTfLiteError;  // the delegate's Prepare
  std::string create_error;
  std::vector<int> replaced;
  tfl::TfLiteStatus prepare = tfl::kTfLiteError;  // the kernel's Prepare
  tfl::TfLiteStatus invoke = tfl::kTfLiteError;   // every invoke
  std::string error;                              // the last reported error
  std::vector<float> watched;                     // tensor `watch` after invoke
};

using Options = std::vector<std::pair<const char*, const char*>>;

// Creates the delegate with `options`, applies it to `rt`, prepares and
// invokes (`invokes` times) the delegate kernel, frees it. `between` runs
// between prepare and the invokes (to tamper with tensors).
Outcome RunGraph(FakeRuntime* rt, const Options& options = {},
                 int watch = -1, int invokes = 2,
                 void (*between)(FakeRuntime*) = nullptr,
                 bool expect_applied = true) {
  Outcome out;
  g_rt = rt;
  rt->init_in_replace = true;
  InitContext(rt);
  std::vector<char*> keys, values;
  for (const auto& kv : options) {
    keys.push_back(const_cast<char*>(kv.first));
    values.push_back(const_cast<char*>(kv.second));
  }
  g_create_error.clear();
  auto* d = reinterpret_cast<tfl::TfLiteDelegate*>(tflite_plugin_create_delegate(
      keys.data(), values.data(), keys.size(), CaptureCreateError));
  out.create_error = g_create_error;
  if (d == nullptr) {
    g_rt = nullptr;
    return out;
  }
  out.created = true;
  const tfl::TfLiteStatus applied = d->Prepare(&rt->context, d);
  out.applied = applied;
  CHECK((applied == tfl::kTfLiteOk) == expect_applied, "delegate Prepare: %s",
        rt->last_error.c_str());
  out.replaced = rt->replaced;
  if (!rt->replaced.empty()) {
    const tfl::TfLiteRegistration reg = rt->delegate_reg;
    tfl::TfLiteNode node;
    memset(&node, 0, sizeof(node));
    node.user_data = rt->user_data;
    out.prepare = reg.prepare(&rt->context, &node);
    if (out.prepare == tfl::kTfLiteOk) {
      if (between) between(rt);
      out.invoke = tfl::kTfLiteOk;
      for (int i = 0; i < invokes && out.invoke == tfl::kTfLiteOk; ++i) {
        out.invoke = reg.invoke(&rt->context, &node);
      }
      const tfl::TfLiteTensor& w = rt->tensors[static_cast<size_t>(watch < 0 ? 0 : watch)];
      if (watch >= 0 && out.invoke == tfl::kTfLiteOk && w.data.raw) {
        out.watched.assign(w.data.f, w.data.f + w.bytes / sizeof(float));
      }
    }
    reg.free(&rt->context, rt->user_data);
  }
  out.error = rt->last_error;
  tflite_plugin_destroy_delegate(reinterpret_cast<struct TfLiteDelegate*>(d));
  g_rt = nullptr;
  return out;
}

bool Has(const std::string& text, const char* fragment) {
  return text.find(fragment) != std::string::npos;
}

const std::vector<float> kBuckets7 = Ramp(7, 0.25f);
const std::vector<float> kWeights15(15, 1.0f);

// [HashedWeights(fc_plain: [5, 3], K = 7) -> weights, FC(weights) -> y]:
// tensors 0 buckets (constant), 1 weights [3, 5], 2 y, 3 x; nodes 0 and 1.
void HashedGraph(FakeRuntime* rt) {
  const OptionSample& s = kOptionSamples[0];
  AddTensor(rt, "buckets", {7}, tfl::kTfLiteMmapRo, kBuckets7.data());
  AddTensor(rt, "weights", {3, 5}, tfl::kTfLiteArenaRw, nullptr);
  AddTensor(rt, "y", {1, 3}, tfl::kTfLiteArenaRw, nullptr);
  AddTensor(rt, "x", {1, 5}, tfl::kTfLiteArenaRw, nullptr);
  AddNode(rt, 32, "HashedWeights", {0}, {1}, s.data, s.size);
  AddNode(rt, 9, nullptr, {3, 1}, {2}, nullptr, 0);  // FULLY_CONNECTED stand-in
}

void ExpectRefused(const Outcome& o, const char* what,
                   std::initializer_list<const char*> fragments) {
  CHECK(o.created && o.prepare == tfl::kTfLiteError, "%s: not refused (%s)",
        what, o.error.c_str());
  CHECK(std::count(o.error.begin(), o.error.end(), '\n') <= 1,
        "%s: more than one line: %s", what, o.error.c_str());
  for (const char* f : fragments) {
    CHECK(Has(o.error, f), "%s: '%s' not in '%s'", what, f, o.error.c_str());
  }
}

void TestNodeIdentity() {
  {  // The baseline: claimed, computed once, constant.
    FakeRuntime rt;
    HashedGraph(&rt);
    const Outcome o = RunGraph(&rt, {}, 1);
    CHECK(o.replaced == std::vector<int>({0}) && o.prepare == tfl::kTfLiteOk &&
              o.invoke == tfl::kTfLiteOk && o.watched.size() == 15,
          "baseline: %s", o.error.c_str());
  }
  for (int32_t builtin : {101, 51, -1}) {  // opcode confusion, wiring fits
    FakeRuntime rt;                          // (ABS, and codes with no rule)
    HashedGraph(&rt);
    rt.nodes[0].second.builtin_code = builtin;  // keeps its custom name
    const Outcome o = RunGraph(&rt);
    CHECK(o.replaced.empty(), "builtin %d with our custom name claimed",
          builtin);
  }
  // Opcode confusion whose wiring does not fit the builtin (STRIDED_SLICE
  // takes 4 inputs, ADD 2, FULLY_CONNECTED 2..3; the node has 1): the whole
  // graph is refused (XNNPACK would read the missing inputs).
  for (int32_t builtin : {45, 0, 9}) {
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.nodes[0].second.builtin_code = builtin;
    const Outcome o = RunGraph(&rt, {}, -1, 2, nullptr, /*expect_applied=*/false);
    CHECK(o.replaced.empty() && Has(o.error, "node 0 (") &&
              Has(o.error, "has 1 inputs and 1 outputs") &&
              Has(o.error, "refusing the graph"),
          "builtin %d with 1 input: %s", builtin, o.error.c_str());
  }
  {  // An absent (-1) input where the builtin has no optional input.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.nodes[1].first.inputs->data[0] = -1;  // FULLY_CONNECTED's x
    const Outcome o = RunGraph(&rt, {}, -1, 2, nullptr, /*expect_applied=*/false);
    CHECK(Has(o.error, "node 1 (FULLY_CONNECTED) has input 0 absent (-1)"),
          "absent input: %s", o.error.c_str());
  }
  {  // CUSTOM without a custom name (null), and an unknown name.
    for (const char* name : {static_cast<const char*>(nullptr), "Nope", ""}) {
      FakeRuntime rt;
      HashedGraph(&rt);
      rt.nodes[0].second.custom_name = name;
      CHECK(RunGraph(&rt).replaced.empty(), "custom name '%s' claimed",
            name ? name : "(null)");
    }
  }
  {  // Init given a node the delegate does not serve (the FC), and a served
     // node it did not claim (not in the execution plan).
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.extra_replace = {1};
    ExpectRefused(RunGraph(&rt), "Init of a builtin node",
                  {"node 1 (builtin code 9, custom name '(null)') is not a "
                   "custom operator this delegate serves"});
    FakeRuntime rt2;
    HashedGraph(&rt2);
    AddNode(&rt2, 32, "HashedWeights", {0}, {2}, kOptionSamples[0].data,
            kOptionSamples[0].size);
    rt2.plan.pop_back();
    rt2.extra_replace = {2};
    ExpectRefused(RunGraph(&rt2), "Init of an unclaimed node",
                  {"node 2 was not claimed by this delegate"});
  }
  {  // Negative custom options size; null options with a size.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.nodes[0].first.custom_initial_data_size = -5;
    ExpectRefused(RunGraph(&rt), "negative options size",
                  {"custom options of negative size -5"});
    FakeRuntime rt2;
    HashedGraph(&rt2);
    rt2.nodes[0].first.custom_initial_data = nullptr;
    ExpectRefused(RunGraph(&rt2), "null options", {"no custom options"});
  }
  {  // Too many inputs / no outputs.
    FakeRuntime rt;
    HashedGraph(&rt);
    free(rt.nodes[0].first.inputs);
    rt.owned.erase(std::find(rt.owned.begin(), rt.owned.end(),
                             static_cast<void*>(rt.nodes[0].first.inputs)));
    rt.nodes[0].first.inputs = MakeArray(std::vector<int>(9, 0));
    rt.owned.push_back(rt.nodes[0].first.inputs);
    ExpectRefused(RunGraph(&rt), "9 inputs", {"has 9 inputs"});
  }
}

// On the fly (delegate option weights = on_the_fly): HashedGraph's
// FULLY_CONNECTED node is claimed with its HashedWeights node and computed
// from the buckets; the weights tensor gets no memory.
tfl::TfLiteFullyConnectedParamsPrefix g_fc_params;

void OnTheFlyGraph(FakeRuntime* rt, int activation) {
  static const float kX[5] = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f};
  HashedGraph(rt);
  rt->tensors[3].data.raw = static_cast<char*>(malloc(sizeof(kX)));
  memcpy(rt->tensors[3].data.raw, kX, sizeof(kX));
  memset(&g_fc_params, 0, sizeof(g_fc_params));
  g_fc_params.activation = activation;
  rt->nodes[1].first.builtin_data = &g_fc_params;
}

void TestOnTheFly() {
  const Options fly = {{"weights", "on_the_fly"}};
  // The rebuilt weights and x give the expected y (RELU6: activation 3).
  FakeRuntime ref;
  OnTheFlyGraph(&ref, 3);
  const Outcome rebuilt = RunGraph(&ref, {}, 1);
  CHECK(rebuilt.watched.size() == 15, "rebuilt: %s", rebuilt.error.c_str());
  const float* x = ref.tensors[3].data.f;
  std::vector<float> want(3);
  for (int o = 0; o < 3; ++o) {
    double acc = 0;
    for (int r = 0; r < 5; ++r) acc += rebuilt.watched[o * 5 + r] * x[r];
    want[o] = static_cast<float>(acc < 0 ? 0 : acc > 6 ? 6 : acc);
  }
  {
    FakeRuntime rt;
    OnTheFlyGraph(&rt, 3);
    const Outcome o = RunGraph(&rt, fly, 2);
    CHECK(o.replaced == std::vector<int>({0, 1}) && o.invoke == tfl::kTfLiteOk &&
              o.watched.size() == 3,
          "on the fly: %s", o.error.c_str());
    for (size_t i = 0; i < o.watched.size(); ++i) {
      CHECK(fabs(o.watched[i] - want[i]) <= 1e-5 * (1 + fabs(want[i])),
            "y[%zu] = %g, want %g", i, o.watched[i], want[i]);
    }
    // Free gave the elided weights back as they were.
    CHECK(rt.tensors[1].allocation_type == tfl::kTfLiteArenaRw &&
              rt.tensors[1].data.raw == nullptr &&
              rt.tensors[1].bytes == 15 * sizeof(float),
          "weights restored on free");
  }
  {  // The weights get no memory while the kernel lives: read-only zero
     // pages of their size (a reader reads zeros, within bounds).
    FakeRuntime rt;
    OnTheFlyGraph(&rt, 0);
    const Outcome o = RunGraph(&rt, fly, 2, 1, [](FakeRuntime* r) {
      const tfl::TfLiteTensor& w = r->tensors[1];
      CHECK(w.allocation_type == tfl::kTfLiteCustom && w.data.raw != nullptr &&
                w.bytes == 15 * sizeof(float),
            "weights elided");
      for (int i = 0; w.data.raw != nullptr && i < 15; ++i) {
        CHECK(w.data.f[i] == 0.0f, "elided weight %d reads %g", i, w.data.f[i]);
      }
    });
    CHECK(o.invoke == tfl::kTfLiteOk, "elided: %s", o.error.c_str());
  }
  {  // A bucket written after Init (a constant listed as a graph input).
    FakeRuntime rt;
    OnTheFlyGraph(&rt, 0);
    static std::vector<float> buckets;
    buckets = kBuckets7;
    rt.tensors[0].data.raw = reinterpret_cast<char*>(buckets.data());
    const Outcome o = RunGraph(&rt, fly, 2, 1, [](FakeRuntime*) {
      buckets[3] += 1.0f;
    });
    CHECK(o.invoke == tfl::kTfLiteError &&
              Has(o.error, "FULLY_CONNECTED node 1") &&
              Has(o.error, "on the fly from HashedWeights node 0") &&
              Has(o.error, "was written after the interpreter was created"),
          "written bucket: %s", o.error.c_str());
  }
  {  // The elided weights given memory by another party: Prepare refuses.
    FakeRuntime rt;
    OnTheFlyGraph(&rt, 0);
    rt.init_in_replace = true;
    InitContext(&rt);
    g_rt = &rt;
    char k[] = "weights", v[] = "on_the_fly";
    char* keys[] = {k};
    char* values[] = {v};
    auto* d = reinterpret_cast<tfl::TfLiteDelegate*>(
        tflite_plugin_create_delegate(keys, values, 1, nullptr));
    CHECK(d->Prepare(&rt.context, d) == tfl::kTfLiteOk, "apply");
    static float other[15];
    rt.tensors[1].data.f = other;
    tfl::TfLiteNode node;
    memset(&node, 0, sizeof(node));
    node.user_data = rt.user_data;
    CHECK(rt.delegate_reg.prepare(&rt.context, &node) == tfl::kTfLiteError &&
              Has(rt.last_error, "were changed by another party"),
          "tampered weights: %s", rt.last_error.c_str());
    rt.tensors[1].data.raw = nullptr;
    rt.delegate_reg.free(&rt.context, rt.user_data);
    tflite_plugin_destroy_delegate(reinterpret_cast<struct TfLiteDelegate*>(d));
    g_rt = nullptr;
  }
  {  // An input whose size is not a multiple of the filter's: refused.
    FakeRuntime rt;
    OnTheFlyGraph(&rt, 0);
    free(rt.tensors[3].dims);
    rt.tensors[3].dims = MakeArray({1, 4});
    rt.tensors[3].bytes = 4 * sizeof(float);
    ExpectRefused(RunGraph(&rt, fly), "x of 4 elements",
                  {"FULLY_CONNECTED node 1", "not a multiple of the filter's 5"});
  }
  // What the loop cannot compute keeps the rebuilt path: a TANH activation,
  // no FULLY_CONNECTED options, the weights also read by another node.
  for (int activation : {4, -1}) {
    FakeRuntime rt;
    OnTheFlyGraph(&rt, activation);
    if (activation < 0) rt.nodes[1].first.builtin_data = nullptr;
    const Outcome o = RunGraph(&rt, fly, 1);
    CHECK(o.replaced == std::vector<int>({0}) && o.watched.size() == 15,
          "activation %d: %s", activation, o.error.c_str());
  }
  // An unknown mode is refused when the delegate is created.
  FakeRuntime rt;
  HashedGraph(&rt);
  const Outcome bad = RunGraph(&rt, {{"weights", "fast"}});
  CHECK(!bad.created && Has(bad.create_error, "weights = rebuilt|on_the_fly"),
        "weights=fast: %s", bad.create_error.c_str());
}

// On the fly, CONV_2D: [HashedWeights(ohwi_fixed: [3, 3, 2, 4], K = 1) ->
// weights [4, 3, 3, 2], CONV_2D(x [1, h, w, 2], weights) -> y], against a
// direct convolution of the rebuilt weights (padding as TFLite computes it).
tfl::TfLiteConvParamsPrefix g_conv_params;
const float kOneBucket[1] = {0.75f};

void ConvGraph(FakeRuntime* rt, int h, int w, int out_h, int out_w) {
  const OptionSample& s = kOptionSamples[3];  // ohwi_fixed
  static std::vector<float> x;
  x = Ramp(static_cast<size_t>(h * w * 2), 0.5f);
  AddTensor(rt, "buckets", {1}, tfl::kTfLiteMmapRo, kOneBucket);
  AddTensor(rt, "weights", {4, 3, 3, 2}, tfl::kTfLiteArenaRw, nullptr);
  AddTensor(rt, "y", {1, out_h, out_w, 4}, tfl::kTfLiteArenaRw, nullptr);
  AddTensor(rt, "x", {1, h, w, 2}, tfl::kTfLiteArenaRw, x.data());
  AddNode(rt, 32, "HashedWeights", {0}, {1}, s.data, s.size);
  AddNode(rt, 3, nullptr, {3, 1}, {2}, nullptr, 0);  // CONV_2D
  rt->nodes[1].first.builtin_data = &g_conv_params;
}

void CheckConv(int h, int w, int padding, int stride_h, int dilation_w,
               int out_h, int out_w, int pad_top, int pad_left) {
  memset(&g_conv_params, 0, sizeof(g_conv_params));
  g_conv_params.padding = padding;
  g_conv_params.stride_height = stride_h;
  g_conv_params.stride_width = 1;
  g_conv_params.dilation_height_factor = 1;
  g_conv_params.dilation_width_factor = dilation_w;
  FakeRuntime ref;
  ConvGraph(&ref, h, w, out_h, out_w);
  const std::vector<float> x(ref.tensors[3].data.f,
                             ref.tensors[3].data.f + h * w * 2);
  const Outcome rebuilt = RunGraph(&ref, {}, 1);
  CHECK(rebuilt.watched.size() == 72, "conv rebuilt: %s", rebuilt.error.c_str());
  FakeRuntime rt;
  ConvGraph(&rt, h, w, out_h, out_w);
  const Outcome o = RunGraph(&rt, {{"weights", "on_the_fly"}}, 2);
  CHECK(o.replaced == std::vector<int>({0, 1}) &&
            o.watched.size() == static_cast<size_t>(out_h * out_w * 4),
        "conv %dx%d on the fly: %s", h, w, o.error.c_str());
  if (o.watched.size() != static_cast<size_t>(out_h * out_w * 4)) return;
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox)
      for (int oc = 0; oc < 4; ++oc) {
        double acc = 0;
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx)
            for (int c = 0; c < 2; ++c) {
              const int iy = oy * stride_h - pad_top + ky;
              const int ix = ox - pad_left + kx * dilation_w;
              if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
              acc += rebuilt.watched[((oc * 3 + ky) * 3 + kx) * 2 + c] *
                     x[(iy * w + ix) * 2 + c];
            }
        const float got = o.watched[(oy * out_w + ox) * 4 + oc];
        CHECK(fabs(got - acc) <= 1e-5 * (1 + fabs(acc)),
              "conv %dx%d y[%d, %d, %d] = %g, want %g", h, w, oy, ox, oc, got,
              acc);
      }
}

void TestOnTheFlyConv() {
  CheckConv(5, 5, tfl::kTfLitePaddingSame, 1, 1, 5, 5, 1, 1);
  // VALID, stride 2 in height, dilation 2 in width: 6x7 -> 2x3.
  CheckConv(6, 7, tfl::kTfLitePaddingValid, 2, 2, 2, 3, 0, 0);
  // SAME with stride 2: out = ceil(6 / 2) = 3, padding (2*2 + 3 - 6) / 2 = 0.
  CheckConv(6, 4, tfl::kTfLitePaddingSame, 2, 1, 3, 4, 0, 1);
  {  // A filter wider than the input (VALID): refused, one line.
    memset(&g_conv_params, 0, sizeof(g_conv_params));
    g_conv_params.padding = tfl::kTfLitePaddingValid;
    g_conv_params.stride_height = g_conv_params.stride_width = 1;
    g_conv_params.dilation_height_factor = g_conv_params.dilation_width_factor = 1;
    FakeRuntime rt;
    ConvGraph(&rt, 2, 2, 1, 1);
    ExpectRefused(RunGraph(&rt, {{"weights", "on_the_fly"}}), "2x2 input",
                  {"CONV_2D node 1", "larger than the input"});
  }
  {  // Padding 0 (unknown) and a stride of 0: left to the rebuilt path.
    for (int bad : {0, 1}) {
      memset(&g_conv_params, 0, sizeof(g_conv_params));
      g_conv_params.padding = bad == 0 ? 0 : tfl::kTfLitePaddingSame;
      g_conv_params.stride_height = 1;
      g_conv_params.stride_width = bad == 0 ? 1 : 0;
      g_conv_params.dilation_height_factor = g_conv_params.dilation_width_factor = 1;
      FakeRuntime rt;
      ConvGraph(&rt, 5, 5, 5, 5);
      const Outcome o = RunGraph(&rt, {{"weights", "on_the_fly"}}, 1);
      CHECK(o.replaced == std::vector<int>({0}), "bad conv options %d claimed",
            bad);
    }
  }
}

void TestWiring() {
  {  // Output 0 is a constant of the file (its buffer has data).
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.tensors[1].allocation_type = tfl::kTfLiteMmapRo;
    rt.tensors[1].data.raw = const_cast<char*>(
        reinterpret_cast<const char*>(kWeights15.data()));
    ExpectRefused(RunGraph(&rt), "constant output",
                  {"HashedWeights node 0 (output 'weights')",
                   "output 0 (tensor 1 'weights') is a constant of the model "
                   "file"});
    CHECK(rt.tensors[1].data.raw == reinterpret_cast<const char*>(
                                        kWeights15.data()),
          "the file's constant was changed");
  }
  {  // An output that is the node's own input; the same output twice.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.nodes[0].first.outputs->data[0] = 0;
    ExpectRefused(RunGraph(&rt), "output = input",
                  {"output 0 is also input 0 (tensor 0 'buckets')"});
    const OptionSample& bias = kOptionSamples[1];  // hash_bias: 2 outputs
    FakeRuntime rt2;
    const std::vector<float> b11 = Ramp(11, 0.5f);
    AddTensor(&rt2, "buckets", {11}, tfl::kTfLiteMmapRo, b11.data());
    AddTensor(&rt2, "w", {5, 2, 3, 4}, tfl::kTfLiteArenaRw, nullptr);
    AddNode(&rt2, 32, "HashedWeights", {0}, {1, 1}, bias.data, bias.size);
    ExpectRefused(RunGraph(&rt2), "duplicate outputs",
                  {"output 1 is the same tensor as output 0"});
  }
  {  // An output another node also writes (a builtin, or a second of ours).
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.nodes[1].first.outputs->data[0] = 1;
    ExpectRefused(RunGraph(&rt), "shared output",
                  {"output 0 (tensor 1 'weights') is also the output of "
                   "another node"});
    FakeRuntime rt2;
    HashedGraph(&rt2);
    AddNode(&rt2, 32, "HashedWeights", {0}, {1}, kOptionSamples[0].data,
            kOptionSamples[0].size);
    ExpectRefused(RunGraph(&rt2), "two of our nodes, one output",
                  {"is also the output of another node"});
  }
  {  // Tensor indices out of range.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.nodes[0].first.outputs->data[0] = 99;
    ExpectRefused(RunGraph(&rt), "output index",
                  {"output 0: tensor index 99 is not a tensor of the model "
                   "(4 tensors)"});
    FakeRuntime rt2;
    HashedGraph(&rt2);
    rt2.nodes[0].first.inputs->data[0] = 99;
    ExpectRefused(RunGraph(&rt2), "input index",
                  {"input 0: tensor index 99 is not a tensor of the model"});
    FakeRuntime rt3;
    HashedGraph(&rt3);
    rt3.nodes[0].first.inputs->data[0] = -1;  // optional: not for buckets
    ExpectRefused(RunGraph(&rt3), "optional buckets",
                  {"input 0 (buckets) is missing"});
  }
}

void TestInputs() {
  {  // A constant input whose bytes disagree with its dims.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.tensors[0].bytes = 20;
    ExpectRefused(RunGraph(&rt), "short constant",
                  {"input 0 (tensor 0 'buckets') is a constant that holds 20 "
                   "bytes but its float32 [7] needs 28"});
    FakeRuntime rt2;
    HashedGraph(&rt2);
    rt2.tensors[0].bytes = 32;  // longer is refused too
    ExpectRefused(RunGraph(&rt2), "long constant", {"holds 32 bytes"});
  }
  {  // A constant input without data; without dims; with huge dims.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.tensors[0].data.raw = nullptr;
    ExpectRefused(RunGraph(&rt), "null data", {"is a constant that has no data"});
    FakeRuntime rt2;
    HashedGraph(&rt2);
    free(rt2.tensors[0].dims);
    rt2.tensors[0].dims = nullptr;
    ExpectRefused(RunGraph(&rt2), "null dims",
                  {"input 0 (buckets, key 'buckets') must be float32",
                   "got float32 (none)"});
    FakeRuntime rt3;
    HashedGraph(&rt3);
    rt3.tensors[0].dims->data[0] = INT32_MAX;
    free(rt3.tensors[0].dims);
    rt3.tensors[0].dims = MakeArray({INT32_MAX, INT32_MAX, INT32_MAX});
    ExpectRefused(RunGraph(&rt3), "huge dims", {"input 0"});
    FakeRuntime rt4;
    HashedGraph(&rt4);
    rt4.tensors[0].dims->data[0] = -7;
    ExpectRefused(RunGraph(&rt4), "negative dim", {"got float32 [-7]"});
    FakeRuntime rt5;  // a type no operator reads, as a constant
    HashedGraph(&rt5);
    rt5.tensors[0].type = static_cast<tfl::TfLiteType>(10);  // float16
    ExpectRefused(RunGraph(&rt5), "float16 buckets", {"got float16 [7]"});
    FakeRuntime rt6;  // a type past the declared enumerators (int4 = 18, as
                      // a file can set): a valid value to load, refused
    HashedGraph(&rt6);
    rt6.tensors[0].type = static_cast<tfl::TfLiteType>(18);
    ExpectRefused(RunGraph(&rt6), "int4 buckets", {"got another type [7]"});
  }
  {  // int8 buckets: exact bytes (count, not count x 4) and a finite scale.
    const std::vector<float> raw(2, 0.0f);  // 8 bytes of int8 data
    for (int variant = 0; variant < 4; ++variant) {
      FakeRuntime rt;
      HashedGraph(&rt);
      tfl::TfLiteTensor& b = rt.tensors[0];
      b.type = tfl::kTfLiteInt8;
      b.bytes = 7;
      b.params.scale = 0.5f;
      if (variant == 1) b.bytes = 28;
      if (variant == 2) b.params.scale = INFINITY;
      if (variant == 3) b.params.scale = NAN;
      const Outcome o = RunGraph(&rt, {}, 1);
      if (variant == 0) {
        CHECK(o.prepare == tfl::kTfLiteOk && o.invoke == tfl::kTfLiteOk,
              "int8 buckets: %s", o.error.c_str());
      } else if (variant == 1) {
        ExpectRefused(o, "int8 bytes", {"holds 28 bytes but its int8 [7] needs 7"});
      } else {
        ExpectRefused(o, "int8 scale", {"per-tensor scale > 0"});
      }
    }
  }
  {  // A constant whose buffer is not 4-byte aligned (a file's buffer need
     // not be): read through an aligned copy (UBSan checks alignment), with
     // the same weights as from aligned buckets; other types than float32 and
     // int8 refused by the operator's Check.
    FakeRuntime aligned;
    HashedGraph(&aligned);
    const Outcome want = RunGraph(&aligned, {}, 1);
    std::vector<unsigned char> bytes(29);
    memcpy(bytes.data() + 1, kBuckets7.data(), 28);
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.tensors[0].data.raw = reinterpret_cast<char*>(bytes.data() + 1);
    const Outcome got = RunGraph(&rt, {}, 1);
    CHECK(got.invoke == tfl::kTfLiteOk && got.watched == want.watched &&
              got.watched.size() == 15,
          "misaligned buckets: %s", got.error.c_str());
    FakeRuntime small;  // the copy counts against max_rebuild_bytes
    HashedGraph(&small);
    small.tensors[0].data.raw = reinterpret_cast<char*>(bytes.data() + 1);
    ExpectRefused(RunGraph(&small, {{"max_rebuild_bytes", "87"}}),
                  "misaligned copy counted",
                  {"needs 88 bytes (outputs 60, scratch 0, float32 copies of "
                   "inputs 28)"});
  }
  {  // Non-constant buckets: accepted, validated again at every invoke.
    FakeRuntime rt;
    HashedGraph(&rt);
    rt.tensors[0].allocation_type = tfl::kTfLiteArenaRw;
    rt.tensors[0].data.raw = nullptr;  // not set yet
    const Outcome o = RunGraph(&rt);
    CHECK(o.prepare == tfl::kTfLiteOk && o.invoke == tfl::kTfLiteError &&
              Has(o.error, "input 0 (tensor 0 'buckets') has no data"),
          "arena buckets without data: %s", o.error.c_str());
    FakeRuntime rt2;
    HashedGraph(&rt2);
    rt2.tensors[0].allocation_type = tfl::kTfLiteArenaRw;
    rt2.tensors[0].data.raw = static_cast<char*>(malloc(28));
    memcpy(rt2.tensors[0].data.raw, kBuckets7.data(), 28);
    const Outcome ok = RunGraph(&rt2, {}, 1);
    CHECK(ok.prepare == tfl::kTfLiteOk && ok.invoke == tfl::kTfLiteOk &&
              ok.watched.size() == 15,
          "arena buckets: %s", ok.error.c_str());
    FakeRuntime rt3;
    HashedGraph(&rt3);
    rt3.tensors[0].allocation_type = tfl::kTfLiteArenaRw;
    rt3.tensors[0].data.raw = static_cast<char*>(malloc(28));
    // Shrunk between prepare and invoke: refused at invoke.
    const Outcome shrunk = RunGraph(&rt3, {}, -1, 1, [](FakeRuntime* r) {
      r->tensors[0].bytes = 8;
    });
    CHECK(shrunk.prepare == tfl::kTfLiteOk &&
              shrunk.invoke == tfl::kTfLiteError &&
              Has(shrunk.error, "holds 8 bytes"),
          "shrunk buckets: %s", shrunk.error.c_str());
    rt3.tensors[0].bytes = 28;
    FakeRuntime rt4;
    HashedGraph(&rt4);
    rt4.tensors[0].allocation_type = tfl::kTfLiteCustom;
    rt4.tensors[0].data.raw = nullptr;  // the fake runtime frees non-constants
    ExpectRefused(RunGraph(&rt4), "custom allocation",
                  {"has allocation type custom"});
  }
  {  // Constant outputs changed by someone else: invoke leaves them alone
     // (no rebuild), the next prepare refuses.
    FakeRuntime rt;
    HashedGraph(&rt);
    const Outcome o = RunGraph(&rt, {}, -1, 1, [](FakeRuntime* r) {
      r->tensors[1].bytes = 4;
      tfl::TfLiteNode node;
      memset(&node, 0, sizeof(node));
      node.user_data = r->user_data;
      CHECK(r->delegate_reg.prepare(&r->context, &node) == tfl::kTfLiteError &&
                Has(r->last_error, "changed by another party"),
            "tampered outputs: %s", r->last_error.c_str());
      r->tensors[1].bytes = 60;
    });
    CHECK(o.invoke == tfl::kTfLiteOk, "tampered: %s", o.error.c_str());
  }
}

// Cost() of each operator: the arithmetic of docs/tflite_format.md, "Limits".
void TestCosts() {
  struct Want {
    const OptionSample* sample;
    hk::OpKernel* (*create)(const uint8_t*, size_t);
    uint64_t weights, output_bytes, scratch_bytes, work;
  };
  const uint64_t g30 = uint64_t{1} << 30;
  const Want wants[] = {
      // fc [5, 3]: 15 weights x 16 units.
      {&kOptionSamples[0], hk::CreateHashedWeightsKernel, 15, 60, 0, 240},
      // ohwi [2, 3, 4, 5] + hashed bias 5.
      {&kOptionSamples[1], hk::CreateHashedWeightsKernel, 125, 500, 0, 2000},
      // 3x3 filters, 2 x 4 channels: 72 weights x (16 + 3 + 3).
      {&kFreshOptionSamples[0], hk::CreateFreshWeightsKernel, 72, 288, 0,
       72 * 22},
      // n 9, rank 3, positions [5, 33): rows 0..3 of M-hat (36 positions).
      {&kSmhOptionSamples[0], hk::CreateSmhWeightsKernel, 28, 112, 36 * 8,
       36 * 3 + 4 * 28},
      {&kBombOptionSamples[0], hk::CreateHashedWeightsKernel, g30, 4 * g30, 0,
       16 * g30},
      {&kBombOptionSamples[1], hk::CreateSmhWeightsKernel, 1 << 20, 4 << 20,
       8 << 20, g30 + (4 << 20)},
      {&kBombOptionSamples[2], hk::CreateFreshWeightsKernel, 1 << 26, 4 << 26,
       0, uint64_t{80} << 26},
  };
  for (const Want& w : wants) {
    std::unique_ptr<hk::OpKernel> k(w.create(w.sample->data, w.sample->size));
    const hk::OpCost c = k->Cost();
    CHECK(c.virtual_weights == w.weights && c.output_bytes == w.output_bytes &&
              c.scratch_bytes == w.scratch_bytes && c.work == w.work,
          "%s: cost %llu %llu %llu %llu", w.sample->name,
          static_cast<unsigned long long>(c.virtual_weights),
          static_cast<unsigned long long>(c.output_bytes),
          static_cast<unsigned long long>(c.scratch_bytes),
          static_cast<unsigned long long>(c.work));
  }
  // Within the defaults, the worst case of each operator is at most 2^30
  // work units (measured: about 1-2 s on one core, README).
  CHECK(hk::kWorkPerVirtualWeight * HK_DEFAULT_MAX_VIRTUAL_WEIGHTS == g30,
        "default work limit");
  std::unique_ptr<hk::OpKernel> bad(hk::CreateHashedWeightsKernel(nullptr, 0));
  CHECK(bad->Cost().work == 0, "invalid options cost nothing");
}

// One node of `sample` with a constant input of `k` values and an output of
// `dims` (never allocated: the limits refuse before).
void BombGraph(FakeRuntime* rt, const OptionSample& s, const char* op,
               std::vector<int> inputs_shape, int inputs,
               std::vector<int> dims, const std::vector<float>& data) {
  for (int i = 0; i < inputs; ++i) {
    AddTensor(rt, "in", inputs_shape, tfl::kTfLiteMmapRo, data.data());
  }
  AddTensor(rt, "bomb", dims, tfl::kTfLiteArenaRw, nullptr);
  std::vector<int> in;
  for (int i = 0; i < inputs; ++i) in.push_back(i);
  AddNode(rt, 32, op, in, {inputs}, s.data, s.size);
}

void TestLimits() {
  const std::vector<float> big(1 << 20, 0.0f);
  {  // 2^30 virtual weights: over the default.
    FakeRuntime rt;
    BombGraph(&rt, kBombOptionSamples[0], "HashedWeights", {4}, 1,
              {1024, 1048576}, big);
    ExpectRefused(RunGraph(&rt), "hashed bomb",
                  {"HashedWeights node 0 (output 'bomb'): rebuilds 1073741824 "
                   "virtual weights",
                   "over the limit max_virtual_weights = 67108864",
                   "hashed_keras.lite.Interpreter(..., max_virtual_weights=N)",
                   "delegate option \"max_virtual_weights\"", "JNI"});
  }
  {  // SMH, rank 1024: within the weights, over the work.
    FakeRuntime rt;
    const std::vector<float> scales = {1.0f, 1.0f};
    AddTensor(&rt, "U", {1024, 1024}, tfl::kTfLiteMmapRo, big.data());
    AddTensor(&rt, "V", {1024, 1024}, tfl::kTfLiteMmapRo, big.data());
    AddTensor(&rt, "scales", {2}, tfl::kTfLiteMmapRo, scales.data());
    AddTensor(&rt, "bomb", {1024, 1024}, tfl::kTfLiteArenaRw, nullptr);
    AddNode(&rt, 32, "SMHWeights", {0, 1, 2}, {3}, kBombOptionSamples[1].data,
            kBombOptionSamples[1].size);
    ExpectRefused(RunGraph(&rt), "smh rank bomb",
                  {"SMHWeights node 0", "needs 1077936128 work units",
                   "over the limit 16 x max_virtual_weights = 1073741824"});
  }
  {  // FreshWeights 32x32 with 2^26 weights: over the work.
    FakeRuntime rt;
    BombGraph(&rt, kBombOptionSamples[2], "FreshWeights", {63}, 1,
              {256, 32, 32, 256}, big);
    ExpectRefused(RunGraph(&rt), "fresh bomb",
                  {"FreshWeights node 0", "needs 5368709120 work units"});
  }
  // Raised and lowered through the plugin options (fc_plain: 15 weights,
  // 60 bytes, 240 units).
  struct Case {
    const char* key;
    const char* value;
    bool ok;
    const char* fragment;
  };
  const Case cases[] = {
      {"max_virtual_weights", "15", true, ""},
      {"max_virtual_weights", "14", false,
       "rebuilds 15 virtual weights, over the limit max_virtual_weights = 14"},
      {"max_virtual_weights", "0", true, ""},  // the default
      {"max_rebuild_bytes", "60", true, ""},
      {"max_rebuild_bytes", "59", false,
       "needs 60 bytes (outputs 60, scratch 0, float32 copies of inputs 0), "
       "over the limit max_rebuild_bytes = 59"},
      {"max_rebuild_bytes", "9223372036854775808", true, ""},
  };
  for (const Case& c : cases) {
    FakeRuntime rt;
    HashedGraph(&rt);
    const Outcome o = RunGraph(&rt, {{c.key, c.value}});
    if (c.ok) {
      CHECK(o.prepare == tfl::kTfLiteOk && o.invoke == tfl::kTfLiteOk,
            "%s=%s: %s", c.key, c.value, o.error.c_str());
    } else {
      ExpectRefused(o, c.key, {c.fragment});
    }
  }
  {  // Totals over the delegate's nodes: two nodes of 15 weights.
    for (const char* limit : {"29", "30"}) {
      FakeRuntime rt;
      HashedGraph(&rt);
      // A second layer of the converter's wiring: its own buckets, its
      // weights read as the filter of a second FULLY_CONNECTED.
      const int buckets2 = static_cast<int>(rt.tensors.size());
      AddTensor(&rt, "buckets2", {7}, tfl::kTfLiteMmapRo, kBuckets7.data());
      AddTensor(&rt, "weights2", {3, 5}, tfl::kTfLiteArenaRw, nullptr);
      AddTensor(&rt, "y2", {1, 3}, tfl::kTfLiteArenaRw, nullptr);
      AddNode(&rt, 32, "HashedWeights", {buckets2}, {buckets2 + 1},
              kOptionSamples[0].data, kOptionSamples[0].size);
      AddNode(&rt, 9, nullptr, {3, buckets2 + 1}, {buckets2 + 2}, nullptr, 0);
      const Outcome o = RunGraph(&rt, {{"max_virtual_weights", limit}});
      if (strcmp(limit, "30") == 0) {
        CHECK(o.prepare == tfl::kTfLiteOk, "two nodes: %s", o.error.c_str());
      } else {
        ExpectRefused(o, "two nodes",
                      {"HashedWeights node 2", "rebuilds 15 virtual weights "
                       "(30 with the delegate's other nodes)"});
      }
    }
  }
  {  // What a freed kernel held is given back: the same delegate applies
     // twice in a row within a limit of one node.
    FakeRuntime rt;
    HashedGraph(&rt);
    g_rt = &rt;
    rt.init_in_replace = true;
    InitContext(&rt);
    char* keys[] = {const_cast<char*>("max_virtual_weights")};
    char* values[] = {const_cast<char*>("15")};
    auto* d = reinterpret_cast<tfl::TfLiteDelegate*>(
        tflite_plugin_create_delegate(keys, values, 1, nullptr));
    for (int round = 0; round < 2; ++round) {
      rt.last_error.clear();
      CHECK(d->Prepare(&rt.context, d) == tfl::kTfLiteOk, "apply %d", round);
      tfl::TfLiteNode node;
      memset(&node, 0, sizeof(node));
      node.user_data = rt.user_data;
      CHECK(rt.delegate_reg.prepare(&rt.context, &node) == tfl::kTfLiteOk,
            "round %d: %s", round, rt.last_error.c_str());
      rt.delegate_reg.free(&rt.context, rt.user_data);
    }
    tflite_plugin_destroy_delegate(reinterpret_cast<struct TfLiteDelegate*>(d));
    g_rt = nullptr;
  }
  // Malformed values are refused at creation, with one message.
  for (const char* value : {"-1", "abc", "", "99999999999999999999", "1e6",
                            " 5", "0x10", "9223372036854775809", "5 "}) {
    FakeRuntime rt;
    HashedGraph(&rt);
    const Outcome o = RunGraph(&rt, {{"max_virtual_weights", value}});
    CHECK(!o.created && Has(o.create_error, "invalid value for option "
                                            "'max_virtual_weights'"),
          "value '%s' accepted: %s", value, o.create_error.c_str());
  }
  {
    FakeRuntime rt;
    HashedGraph(&rt);
    const Outcome o = RunGraph(&rt, {{"max_rebuild_bytes", "12k"}});
    CHECK(!o.created && Has(o.create_error, "'max_rebuild_bytes' = '12k'"),
          "12k: %s", o.create_error.c_str());
    FakeRuntime rt2;
    HashedGraph(&rt2);
    const Outcome u = RunGraph(&rt2, {{"max_weights", "5"}});
    CHECK(!u.created && Has(u.create_error, "unknown option 'max_weights'"),
          "unknown: %s", u.create_error.c_str());
  }
}

int WriteSamples(const char* dir, const OptionSample* samples, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const OptionSample& s = samples[i];
    const std::string path = std::string(dir) + "/" + s.name;
    FILE* f = fopen(path.c_str(), "wb");
    if (f == nullptr || fwrite(s.data, 1, s.size, f) != s.size) {
      fprintf(stderr, "cannot write %s\n", path.c_str());
      if (f) fclose(f);
      return 1;
    }
    fclose(f);
  }
  printf("wrote %zu seed files to %s\n", n, dir);
  return 0;
}

int WriteCorpus(const char* dir) {
  return WriteSamples(dir, kOptionSamples,
                      sizeof(kOptionSamples) / sizeof(kOptionSamples[0])) ||
         WriteSamples(dir, kFreshOptionSamples,
                      sizeof(kFreshOptionSamples) /
                          sizeof(kFreshOptionSamples[0])) ||
         WriteSamples(dir, kSmhOptionSamples,
                      sizeof(kSmhOptionSamples) / sizeof(kSmhOptionSamples[0]));
}

}  // namespace

// ---------------------------------------------------------------------------
// SIMD paths (simd_hash.h): every supported path against the scalar contract,
// bit for bit, over many seeds, lengths (every tail), key starts and strides
// (keys wrapping past 2^32), bucket counts (powers of two, primes, up to
// 2^32 - 1), misaligned output pointers; the guard values after each output
// stay untouched.

std::vector<hk::SimdPath> SupportedPaths() {
  std::vector<hk::SimdPath> paths;
  for (int p = 0; p < hk::kNumSimdPaths; ++p) {
    if (hk::SimdPathSupported(static_cast<hk::SimdPath>(p))) {
      paths.push_back(static_cast<hk::SimdPath>(p));
    }
  }
  return paths;
}

bool SameBits(const float* a, const float* b, size_t n) {
  return memcmp(a, b, n * sizeof(float)) == 0;
}

void TestSimdPaths() {
  const std::vector<hk::SimdPath> paths = SupportedPaths();
  std::string names;
  for (hk::SimdPath p : paths) names += std::string(" ") + hk::SimdPathName(p);
  std::mt19937 rng(1234);
  const uint32_t kGuard = 0xDEADBEEFu;
  const uint64_t bucket_counts[] = {
      1, 2, 3, 4, 5, 7, 8, 255, 256, 1000, 4099, 65536, 65537, 1u << 20,
      (1u << 31) - 1, 1u << 31, (1u << 31) + 1, 3000000019u, 0xFFFFFFFEu,
      0xFFFFFFFFu, uint64_t{1} << 32};
  const uint32_t strides[] = {1, 2, 3, 7, 64, 1000, 0x9E3779B9u};
  uint64_t compared = 0;
  // Raw hashes and bucket indices.
  for (int trial = 0; trial < 300; ++trial) {
    const uint32_t seed = trial == 0 ? 0u : trial == 1 ? 0xFFFFFFFFu : rng();
    const size_t n = trial < 70 ? static_cast<size_t>(trial) : rng() % 5000;
    const uint32_t first = trial % 3 == 0 ? 0xFFFFFFFFu - static_cast<uint32_t>(rng() % 40)
                                          : static_cast<uint32_t>(rng());
    const uint32_t stride = strides[trial % 7];
    const uint64_t k = trial % 4 == 0 ? 0 : bucket_counts[trial % 21];
    const size_t shift = trial % 4;  // misaligned output
    std::vector<uint32_t> want(n);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t h = hk::Xxh32(first + static_cast<uint32_t>(i) * stride, seed);
      want[i] = k == 0 ? h : static_cast<uint32_t>(hk::BucketOf(h, k));
    }
    for (hk::SimdPath p : paths) {
      std::vector<uint32_t> buf(n + shift + 1, kGuard);
      hk::BucketKeys(p, first, stride, n, seed, k, buf.data() + shift);
      CHECK((n == 0 || memcmp(buf.data() + shift, want.data(), n * 4) == 0) &&
                buf[n + shift] == kGuard && (shift == 0 || buf[0] == kGuard),
            "%s: keys %u+%u*i, n=%zu, seed %u, K=%llu", hk::SimdPathName(p),
            first, stride, n, seed, static_cast<unsigned long long>(k));
      compared += n;
    }
  }
  // The modulus on many hashes per bucket count.
  for (uint64_t k : bucket_counts) {
    std::vector<uint32_t> want(4096), got(4096);
    hk::BucketKeys(hk::SimdPath::kScalar, 0, 1, 4096, static_cast<uint32_t>(k),
                   k, want.data());
    for (hk::SimdPath p : paths) {
      hk::BucketKeys(p, 0, 1, 4096, static_cast<uint32_t>(k), k, got.data());
      CHECK(want == got, "%s: buckets mod %llu", hk::SimdPathName(p),
            static_cast<unsigned long long>(k));
      compared += 4096;
    }
  }
  // The gather: signs, scale, offsets, odd values (-0, denormals, inf).
  std::vector<float> pool(70000);
  for (size_t i = 0; i < pool.size(); ++i) {
    pool[i] = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
  }
  pool[1] = -0.0f;
  pool[2] = 1e-40f;
  pool[3] = -1e-45f;
  pool[4] = INFINITY;
  for (int trial = 0; trial < 400; ++trial) {
    hk::HashGather g;
    g.buckets = pool.data();
    g.num_buckets = 1 + rng() % (trial % 2 ? 5 : 65536);
    g.offset = rng() % (pool.size() - g.num_buckets + 1);
    g.seed_h = rng();
    g.seed_s = rng();
    g.use_sign = trial % 3 != 0;
    g.has_scale = trial % 4 == 1;
    g.scale = trial % 8 == 1 ? 1e-30f : 0.75f;
    const size_t n = trial < 40 ? static_cast<size_t>(trial) : rng() % 3000;
    const uint32_t first = static_cast<uint32_t>(rng());
    const uint32_t stride = strides[trial % 7];
    const size_t shift = trial % 4;
    std::vector<float> want(n + shift + 1, -7.0f);
    hk::GatherHashed(hk::SimdPath::kScalar, g, first, stride, n,
                     want.data() + shift);
    // The scalar path is the contract itself.
    bool contract = true;
    for (size_t i = 0; i < n && contract; ++i) {
      const uint32_t key = first + static_cast<uint32_t>(i) * stride;
      float v = pool[g.offset + hk::Xxh32(key, g.seed_h) % g.num_buckets];
      if (g.use_sign && hk::SignIsNegative(key, g.seed_s)) v = -v;
      if (g.has_scale) v *= g.scale;
      contract = memcmp(&v, &want[i + shift], 4) == 0;
    }
    CHECK(contract, "scalar gather differs from the contract");
    for (hk::SimdPath p : paths) {
      std::vector<float> got(n + shift + 1, -7.0f);
      hk::GatherHashed(p, g, first, stride, n, got.data() + shift);
      CHECK(SameBits(got.data(), want.data(), got.size()),
            "%s: gather n=%zu K=%llu sign=%d scale=%d", hk::SimdPathName(p), n,
            static_cast<unsigned long long>(g.num_buckets), g.use_sign,
            g.has_scale);
      compared += n;
    }
  }
  // Whole operators: HashedWeights and FreshWeights, each path against the
  // scalar one.
  for (int trial = 0; trial < 60; ++trial) {
    hk::HashedWeightsPlan p;
    p.seed = rng();
    p.out = 1 + rng() % 70;
    p.rows = 1 + rng() % 300;
    p.kernel_size = p.out * p.rows;
    p.hash_bias = trial % 2 == 0;
    p.bias_size = p.hash_bias ? p.out : 0;
    p.virtual_size = p.kernel_size + p.bias_size;
    p.use_sign = trial % 5 != 0;
    p.num_buckets = 1 + rng() % p.virtual_size;
    const std::vector<float> buckets = Ramp(p.num_buckets, 0.37f);
    const std::vector<float> scale = Ramp(p.out, -0.21f);
    const float* sc = trial % 3 == 0 ? scale.data() : nullptr;
    std::vector<float> want(p.kernel_size), want_bias(p.out);
    hk::ComputeHashedWeights(p, buckets.data(), sc, want.data(),
                             want_bias.data(), hk::SimdPath::kScalar);
    for (hk::SimdPath path : paths) {
      std::vector<float> got(p.kernel_size), got_bias(p.out);
      hk::ComputeHashedWeights(p, buckets.data(), sc, got.data(),
                               got_bias.data(), path);
      CHECK(SameBits(got.data(), want.data(), got.size()) &&
                SameBits(got_bias.data(), want_bias.data(), got_bias.size()),
            "%s: HashedWeights %llux%llu", hk::SimdPathName(path),
            static_cast<unsigned long long>(p.out),
            static_cast<unsigned long long>(p.rows));
      compared += p.virtual_size;
    }
    hk::FreshWeightsPlan f;
    f.seed = rng();
    f.use_sign = trial % 5 != 1;
    const int64_t kh = 1 + rng() % 5, kw = 1 + rng() % 5;
    const int64_t in = 1 + rng() % 20, out = 1 + rng() % 40;
    f.kernel_shape[0] = kh;
    f.kernel_shape[1] = kw;
    f.kernel_shape[2] = in;
    f.kernel_shape[3] = out;
    f.kernel_size = static_cast<uint64_t>(kh * kw * in * out);
    f.out = static_cast<uint64_t>(out);
    f.num_bands = static_cast<int>(kh + kw - 1);
    uint64_t total = 0;
    for (int b = 0; b < f.num_bands; ++b) {
      const int64_t lo = b - (kw - 1) > 0 ? b - (kw - 1) : 0;
      const int64_t hi = b < kh - 1 ? b : kh - 1;
      const uint64_t n_b = static_cast<uint64_t>((hi - lo + 1) * in * out);
      f.band_buckets[b] = 1 + rng() % n_b;
      f.band_offset[b] = total;
      total += f.band_buckets[b];
    }
    f.num_buckets = total;
    const std::vector<float> fb = Ramp(total, 0.11f);
    const std::vector<float> fscale = Ramp(f.out, 0.3f);
    const float* fsc = trial % 2 ? fscale.data() : nullptr;
    std::vector<float> fwant(f.kernel_size);
    hk::ComputeFreshWeights(f, fb.data(), fsc, fwant.data(),
                            hk::SimdPath::kScalar);
    for (hk::SimdPath path : paths) {
      std::vector<float> got(f.kernel_size);
      hk::ComputeFreshWeights(f, fb.data(), fsc, got.data(), path);
      CHECK(SameBits(got.data(), fwant.data(), got.size()),
            "%s: FreshWeights %lldx%lldx%lldx%lld", hk::SimdPathName(path),
            static_cast<long long>(kh), static_cast<long long>(kw),
            static_cast<long long>(in), static_cast<long long>(out));
      compared += f.kernel_size;
    }
  }
  printf("simd: paths%s (active %s): %llu values identical to scalar\n",
         names.c_str(), hk::SimdPathName(hk::ActiveSimdPath()),
         static_cast<unsigned long long>(compared));
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
    return WriteCorpus(argv[2]);
  }
  TestXxh32();
  TestSimdPaths();
  TestValidSamples();
  TestWrongLengths();
  TestMessages();
  TestCorruptions();
  TestDelegate();
  TestRegistrationSizes();
  TestFresh();
  TestSmh();
  TestNodeIdentity();
  TestWiring();
  TestOnTheFly();
  TestOnTheFlyConv();
  TestInputs();
  TestCosts();
  TestLimits();
  return hk_test::Summary();
}
