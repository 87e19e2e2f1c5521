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

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "hash_contract.h"
#include "fresh_weights.h"
#include "hashed_weights.h"
#include "hk_kernels.h"
#include "smh_weights.h"
#include "tflite_abi.h"

#include "option_samples.inc"

namespace {

int g_failures = 0;
int g_checks = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    ++g_checks;                                            \
    if (!(cond)) {                                         \
      ++g_failures;                                        \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
    }                                                      \
  } while (0)

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
  std::string why;
  if (!hk::ParseHashedWeightsOptions(data, size, &plan, &why)) {
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
                              tfl::TfLiteDelegate*) {
  g_rt->delegate_reg = reg;
  g_rt->replaced.assign(nodes->data, nodes->data + nodes->size);
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
  std::string why;
  if (!hk::ParseHashedWeightsOptions(s.data, s.size, &plan, &why)) {
    *error = why;
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
  AddNode(&rt, 9, nullptr, {1}, {}, nullptr, 0);  // FULLY_CONNECTED stand-in
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
    std::string why;
    CHECK(hk::ParseHashedWeightsOptions(s.data, s.size, &plan, &why), "%s",
          why.c_str());
    std::vector<int> shape;
    for (int i = 0; i < plan.OutputRank(); ++i) {
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
  std::string why;
  if (!hk::ParseFreshWeightsOptions(data, size, &plan, &why)) {
    const int rc = hk_fresh_weights(data, size, nullptr, 0, nullptr, 0,
                                    nullptr, 0, error, sizeof(error));
    CHECK(rc == HK_ERROR_OPTIONS, "rc=%d", rc);
    CHECK(memchr(error, 0, sizeof(error)) != nullptr && strlen(error) > 0,
          "error message");
    CHECK(!compare, "valid sample refused: %s", why.c_str());
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
  std::string why;
  if (!hk::ParseSmhWeightsOptions(data, size, &p, &why)) {
    const int rc = hk_smh_weights(data, size, nullptr, 0, nullptr, 0, nullptr, 0,
                                  nullptr, 0, nullptr, 0, nullptr, 0, error,
                                  sizeof(error));
    CHECK(rc == HK_ERROR_OPTIONS && strlen(error) > 0, "smh refusal");
    CHECK(!compare, "valid smh sample refused: %s", why.c_str());
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

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
    return WriteCorpus(argv[2]);
  }
  TestXxh32();
  TestValidSamples();
  TestWrongLengths();
  TestMessages();
  TestCorruptions();
  TestDelegate();
  TestRegistrationSizes();
  TestFresh();
  TestSmh();
  printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures == 0 ? 0 : 1;
}
