// LiteRT CompiledModel runner with the hashed_keras delegate as an
// accelerator. See litert_runner.h and litert_c_api.h.
//
// How the delegate reaches the runtime: LiteRT's environment keeps a registry
// of accelerators; when a CompiledModel is created, each registered
// accelerator's CreateDelegate returns a TfLiteDelegate (wrapped), and the
// runtime applies it with the TFLite interpreter's ModifyGraphWithDelegate --
// the same call the Java Interpreter API makes for a delegate added with
// Interpreter.Options.addDelegate. The built-in CPU accelerator (XNNPACK) is
// registered when the environment is created, so here it is applied before
// the hashed_keras delegate; the layers that consume rebuilt weights then run
// on the builtin kernels (same results; the Interpreter API applies ours
// first and XNNPACK takes them too).
#include "litert_runner.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <mutex>
#include <set>

#include "hk_kernels.h"
#include "litert_c_api.h"

namespace hkdemo {
namespace {

namespace lrt = ::hkdemo::litert;

static_assert(sizeof(lrt::RankedTensorType) == 72,
              "LiteRtRankedTensorType must be 72 bytes");

std::atomic<int> g_live_delegates{0};

// ---------------------------------------------------------------------------
// The runtime library, loaded once.

struct Api {
  std::string library;
  void* handle = nullptr;
  lrt::CreateEnvironmentFn CreateEnvironment = nullptr;
  lrt::DestroyEnvironmentFn DestroyEnvironment = nullptr;
  lrt::CreateModelFromFileFn CreateModelFromFile = nullptr;
  lrt::DestroyModelFn DestroyModel = nullptr;
  lrt::CreateOptionsFn CreateOptions = nullptr;
  lrt::DestroyOptionsFn DestroyOptions = nullptr;
  lrt::SetOptionsHardwareAcceleratorsFn SetOptionsHardwareAccelerators = nullptr;
  lrt::CreateCompiledModelFn CreateCompiledModel = nullptr;
  lrt::DestroyCompiledModelFn DestroyCompiledModel = nullptr;
  lrt::RunCompiledModelFn RunCompiledModel = nullptr;
  lrt::GetModelSignatureFn GetModelSignature = nullptr;
  lrt::GetNumSignatureTensorsFn GetNumSignatureInputs = nullptr;
  lrt::GetNumSignatureTensorsFn GetNumSignatureOutputs = nullptr;
  lrt::GetSignatureTensorByIndexFn GetSignatureInputTensorByIndex = nullptr;
  lrt::GetSignatureTensorByIndexFn GetSignatureOutputTensorByIndex = nullptr;
  lrt::GetRankedTensorTypeFn GetRankedTensorType = nullptr;
  lrt::GetBufferRequirementsFn GetCompiledModelInputBufferRequirements = nullptr;
  lrt::GetBufferRequirementsFn GetCompiledModelOutputBufferRequirements = nullptr;
  lrt::GetRequirementsBufferSizeFn GetTensorBufferRequirementsBufferSize = nullptr;
  lrt::CreateTensorBufferFromHostMemoryFn CreateTensorBufferFromHostMemory = nullptr;
  lrt::DestroyTensorBufferFn DestroyTensorBuffer = nullptr;
  lrt::CreateAcceleratorFn CreateAccelerator = nullptr;
  lrt::DestroyAcceleratorFn DestroyAccelerator = nullptr;
  lrt::SetAcceleratorGetNameFn SetAcceleratorGetName = nullptr;
  lrt::SetAcceleratorGetVersionFn SetAcceleratorGetVersion = nullptr;
  lrt::SetAcceleratorGetHardwareSupportFn SetAcceleratorGetHardwareSupport = nullptr;
  lrt::SetDelegateFunctionFn SetDelegateFunction = nullptr;
  lrt::RegisterAcceleratorFn RegisterAccelerator = nullptr;
  lrt::WrapDelegateFn WrapDelegate = nullptr;
};

std::mutex g_mutex;
Api* g_api = nullptr;                   // guarded by g_mutex; never freed
std::set<lrt::Accelerator> g_ours;      // our registered accelerators

template <typename Fn>
bool Bind(void* handle, const char* name, Fn* fn, std::string* missing) {
  *fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (*fn == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
    return false;
  }
  return true;
}

const Api* LoadApi(const std::string& library, std::string* error) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_api != nullptr) {
    if (g_api->library != library) {
      *error = "the LiteRT runtime " + g_api->library +
               " is already loaded in this process (asked for " + library + ")";
      return nullptr;
    }
    return g_api;
  }
  // RTLD_LOCAL: the runtime's TFLite symbols must not interpose on another
  // TFLite in the process (the Java Interpreter's), nor the reverse.
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    *error = "cannot load the LiteRT runtime " + library + ": " +
             (why ? why : "unknown error");
    return nullptr;
  }
  auto* api = new Api;
  api->library = library;
  api->handle = handle;
  std::string missing;
#define HK_BIND(name) Bind(handle, "LiteRt" #name, &api->name, &missing)
  HK_BIND(CreateEnvironment);
  HK_BIND(DestroyEnvironment);
  HK_BIND(CreateModelFromFile);
  HK_BIND(DestroyModel);
  HK_BIND(CreateOptions);
  HK_BIND(DestroyOptions);
  HK_BIND(SetOptionsHardwareAccelerators);
  HK_BIND(CreateCompiledModel);
  HK_BIND(DestroyCompiledModel);
  HK_BIND(RunCompiledModel);
  HK_BIND(GetModelSignature);
  HK_BIND(GetNumSignatureInputs);
  HK_BIND(GetNumSignatureOutputs);
  HK_BIND(GetSignatureInputTensorByIndex);
  HK_BIND(GetSignatureOutputTensorByIndex);
  HK_BIND(GetRankedTensorType);
  HK_BIND(GetCompiledModelInputBufferRequirements);
  HK_BIND(GetCompiledModelOutputBufferRequirements);
  HK_BIND(GetTensorBufferRequirementsBufferSize);
  HK_BIND(CreateTensorBufferFromHostMemory);
  HK_BIND(DestroyTensorBuffer);
  HK_BIND(CreateAccelerator);
  HK_BIND(DestroyAccelerator);
  HK_BIND(SetAcceleratorGetName);
  HK_BIND(SetAcceleratorGetVersion);
  HK_BIND(SetAcceleratorGetHardwareSupport);
  HK_BIND(SetDelegateFunction);
  HK_BIND(RegisterAccelerator);
  HK_BIND(WrapDelegate);
#undef HK_BIND
  if (!missing.empty()) {
    *error = library + " does not export the LiteRT C API this runner needs "
                       "(missing: " + missing + ")";
    delete api;
    dlclose(handle);
    return nullptr;
  }
  g_api = api;
  return g_api;
}

// ---------------------------------------------------------------------------
// The hashed_keras accelerator.

lrt::Status AcceleratorName(lrt::Accelerator, const char** name) {
  if (name == nullptr) return 1;
  *name = "HashedKerasKernels";
  return lrt::kOk;
}

lrt::Status AcceleratorVersion(lrt::Accelerator, lrt::ApiVersion* version) {
  if (version == nullptr) return 1;
  version->major = 0;
  version->minor = 1;
  version->patch = 0;
  return lrt::kOk;
}

lrt::Status AcceleratorHardware(lrt::Accelerator, int* hardware) {
  if (hardware == nullptr) return 1;
  *hardware = lrt::kHwAcceleratorCpu;
  return lrt::kOk;
}

void DeleteDelegate(void* delegate) {
  tflite_plugin_destroy_delegate(static_cast<TfLiteDelegate*>(delegate));
  NoteDelegateDestroyed();
}

lrt::Status AcceleratorCreateDelegate(void* /*runtime_context*/,
                                      lrt::Environment /*env*/,
                                      lrt::Accelerator accelerator,
                                      lrt::Options /*options*/,
                                      lrt::DelegateWrapper* out) {
  const Api* api = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    // A runtime calling with another argument order (another LiteRT release)
    // would not pass our accelerator here: refuse instead of writing through
    // a pointer that is not the output.
    if (g_ours.count(accelerator) == 0) return 1;
    api = g_api;
  }
  if (out == nullptr || api == nullptr) return 1;
  TfLiteDelegate* delegate =
      tflite_plugin_create_delegate(nullptr, nullptr, 0, nullptr);
  if (delegate == nullptr) return 1;
  NoteDelegateCreated();
  const lrt::Status status = api->WrapDelegate(delegate, DeleteDelegate, out);
  if (status != lrt::kOk) DeleteDelegate(delegate);
  return status;
}

// Registers a hashed_keras accelerator with `env`; the environment owns it.
bool RegisterKernels(const Api& api, lrt::Environment env,
                     lrt::Accelerator* registered, std::string* error) {
  lrt::Accelerator accelerator = nullptr;
  lrt::Status s = api.CreateAccelerator(&accelerator);
  if (s != lrt::kOk || accelerator == nullptr) {
    *error = "LiteRtCreateAccelerator failed (status " + std::to_string(s) + ")";
    return false;
  }
  if ((s = api.SetAcceleratorGetName(accelerator, AcceleratorName)) != lrt::kOk ||
      (s = api.SetAcceleratorGetVersion(accelerator, AcceleratorVersion)) != lrt::kOk ||
      (s = api.SetAcceleratorGetHardwareSupport(accelerator, AcceleratorHardware)) !=
          lrt::kOk ||
      (s = api.SetDelegateFunction(accelerator, AcceleratorCreateDelegate)) != lrt::kOk) {
    api.DestroyAccelerator(accelerator);
    *error = "configuring the hashed_keras accelerator failed (status " +
             std::to_string(s) + ")";
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_ours.insert(accelerator);
  }
  // On failure the runtime releases the accelerator itself.
  s = api.RegisterAccelerator(env, accelerator, nullptr, nullptr);
  if (s != lrt::kOk) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_ours.erase(accelerator);
    *error = "LiteRtRegisterAccelerator failed (status " + std::to_string(s) + ")";
    return false;
  }
  *registered = accelerator;
  return true;
}

// Reads a float32 tensor type; a dynamic dimension (-1, the batch) becomes 1.
bool TensorTypeOf(const Api& api, lrt::Tensor tensor, const char* what,
                  lrt::RankedTensorType* type, std::vector<int>* shape,
                  size_t* count, std::string* error) {
  memset(type, 0, sizeof(*type));
  const lrt::Status s = api.GetRankedTensorType(tensor, type);
  if (s != lrt::kOk) {
    *error = std::string("cannot read the type of the ") + what +
             " (status " + std::to_string(s) + "; an unranked tensor?)";
    return false;
  }
  if (type->element_type != lrt::kElementTypeFloat32) {
    *error = std::string("the ") + what + " is not float32 (element type " +
             std::to_string(type->element_type) + ")";
    return false;
  }
  if (type->rank < 1 || type->rank > lrt::kMaxRank || type->has_strides) {
    *error = std::string("the ") + what + " has an unexpected layout (rank " +
             std::to_string(type->rank) + ")";
    return false;
  }
  shape->clear();
  size_t n = 1;
  for (unsigned i = 0; i < type->rank; ++i) {
    int d = type->dimensions[i];
    if (d == -1) d = type->dimensions[i] = 1;
    if (d < 1 || d > (1 << 24) || n > (size_t{1} << 28) / static_cast<size_t>(d)) {
      *error = std::string("the ") + what + " has an unsupported dimension " +
               std::to_string(type->dimensions[i]);
      return false;
    }
    shape->push_back(d);
    n *= static_cast<size_t>(d);
  }
  *count = n;
  return true;
}

void* AlignedAlloc(size_t bytes) {
  const size_t a = lrt::kHostMemoryAlignment;
  const size_t rounded = (bytes + a - 1) / a * a;
  void* p = nullptr;
  if (posix_memalign(&p, a, rounded ? rounded : a) != 0) return nullptr;
  memset(p, 0, rounded ? rounded : a);
  return p;
}

}  // namespace

int LiveDelegates() { return g_live_delegates.load(); }
void NoteDelegateCreated() { g_live_delegates.fetch_add(1); }
void NoteDelegateDestroyed() { g_live_delegates.fetch_sub(1); }

struct LiteRtRunner::State {
  const Api* api = nullptr;
  lrt::Environment env = nullptr;
  lrt::Accelerator accelerator = nullptr;  // ours, owned by env
  lrt::Model model = nullptr;
  lrt::Options options = nullptr;
  lrt::CompiledModel compiled = nullptr;
  lrt::RankedTensorType input_type{};
  lrt::RankedTensorType output_type{};
  void* input_memory = nullptr;
  void* output_memory = nullptr;
  lrt::TensorBuffer input_buffer = nullptr;
  lrt::TensorBuffer output_buffer = nullptr;

  ~State() {
    if (api == nullptr) return;
    if (input_buffer) api->DestroyTensorBuffer(input_buffer);
    if (output_buffer) api->DestroyTensorBuffer(output_buffer);
    if (compiled) api->DestroyCompiledModel(compiled);  // frees our delegate
    if (options) api->DestroyOptions(options);
    if (model) api->DestroyModel(model);
    if (accelerator) {
      std::lock_guard<std::mutex> lock(g_mutex);
      g_ours.erase(accelerator);
    }
    if (env) api->DestroyEnvironment(env);
    free(input_memory);
    free(output_memory);
  }
};

LiteRtRunner::LiteRtRunner(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

LiteRtRunner::~LiteRtRunner() = default;

std::unique_ptr<LiteRtRunner> LiteRtRunner::Open(
    const std::string& runtime_library, const std::string& model_path,
    bool with_kernels, std::string* error) {
  const Api* api = LoadApi(runtime_library, error);
  if (api == nullptr) return nullptr;
  auto st = std::make_unique<State>();
  st->api = api;
  lrt::Status s;
  auto fail = [&](const std::string& what) {
    *error = what + " (status " + std::to_string(s) + ")";
    return nullptr;
  };
  if ((s = api->CreateEnvironment(0, nullptr, &st->env)) != lrt::kOk) {
    return fail("LiteRtCreateEnvironment failed");
  }
  if (with_kernels && !RegisterKernels(*api, st->env, &st->accelerator, error)) {
    return nullptr;
  }
  if ((s = api->CreateModelFromFile(st->env, model_path.c_str(), &st->model)) !=
      lrt::kOk) {
    return fail("cannot load the model " + model_path);
  }
  if ((s = api->CreateOptions(&st->options)) != lrt::kOk ||
      (s = api->SetOptionsHardwareAccelerators(st->options,
                                               lrt::kHwAcceleratorCpu)) != lrt::kOk) {
    return fail("cannot create the compilation options");
  }
  if ((s = api->CreateCompiledModel(st->env, st->model, st->options,
                                    &st->compiled)) != lrt::kOk) {
    return fail(with_kernels
                    ? "LiteRtCreateCompiledModel failed"
                    : "LiteRtCreateCompiledModel failed (a model with "
                      "hashed_keras operators needs the kernels)");
  }
  lrt::Signature signature = nullptr;
  lrt::ParamIndex inputs = 0, outputs = 0;
  if ((s = api->GetModelSignature(st->model, 0, &signature)) != lrt::kOk ||
      (s = api->GetNumSignatureInputs(signature, &inputs)) != lrt::kOk ||
      (s = api->GetNumSignatureOutputs(signature, &outputs)) != lrt::kOk) {
    return fail("cannot read the model's signature");
  }
  if (inputs != 1 || outputs < 1) {
    s = 0;
    return fail("the runner needs one input and at least one output; the model "
                "has " + std::to_string(inputs) + " and " +
                std::to_string(outputs));
  }
  lrt::Tensor tensor = nullptr;
  std::vector<int> in_shape, out_shape;
  size_t in_count = 0, out_count = 0;
  if ((s = api->GetSignatureInputTensorByIndex(signature, 0, &tensor)) != lrt::kOk) {
    return fail("cannot read input 0");
  }
  if (!TensorTypeOf(*api, tensor, "input", &st->input_type, &in_shape, &in_count,
                    error)) {
    return nullptr;
  }
  if ((s = api->GetSignatureOutputTensorByIndex(signature, 0, &tensor)) != lrt::kOk) {
    return fail("cannot read output 0");
  }
  if (!TensorTypeOf(*api, tensor, "output", &st->output_type, &out_shape,
                    &out_count, error)) {
    return nullptr;
  }
  lrt::TensorBufferRequirements requirements = nullptr;
  size_t in_bytes = 0, out_bytes = 0;
  if ((s = api->GetCompiledModelInputBufferRequirements(st->compiled, 0, 0,
                                                        &requirements)) != lrt::kOk ||
      (s = api->GetTensorBufferRequirementsBufferSize(requirements, &in_bytes)) !=
          lrt::kOk ||
      (s = api->GetCompiledModelOutputBufferRequirements(st->compiled, 0, 0,
                                                         &requirements)) != lrt::kOk ||
      (s = api->GetTensorBufferRequirementsBufferSize(requirements, &out_bytes)) !=
          lrt::kOk) {
    return fail("cannot read the buffer requirements");
  }
  if (in_bytes < in_count * sizeof(float)) in_bytes = in_count * sizeof(float);
  if (out_bytes < out_count * sizeof(float)) out_bytes = out_count * sizeof(float);
  st->input_memory = AlignedAlloc(in_bytes);
  st->output_memory = AlignedAlloc(out_bytes);
  if (st->input_memory == nullptr || st->output_memory == nullptr) {
    s = 0;
    return fail("out of memory");
  }
  if ((s = api->CreateTensorBufferFromHostMemory(&st->input_type, st->input_memory,
                                                 in_bytes, nullptr,
                                                 &st->input_buffer)) != lrt::kOk ||
      (s = api->CreateTensorBufferFromHostMemory(&st->output_type,
                                                 st->output_memory, out_bytes,
                                                 nullptr, &st->output_buffer)) !=
          lrt::kOk) {
    return fail("cannot create the tensor buffers");
  }
  std::unique_ptr<LiteRtRunner> runner(new LiteRtRunner(std::move(st)));
  runner->input_shape_ = in_shape;
  runner->output_shape_ = out_shape;
  runner->input_count_ = in_count;
  runner->output_count_ = out_count;
  return runner;
}

bool LiteRtRunner::Run(const float* input, float* output, std::string* error) {
  State& st = *state_;
  memcpy(st.input_memory, input, input_count_ * sizeof(float));
  lrt::TensorBuffer in = st.input_buffer;
  lrt::TensorBuffer out = st.output_buffer;
  const lrt::Status s = st.api->RunCompiledModel(st.compiled, 0, 1, &in, 1, &out);
  if (s != lrt::kOk) {
    *error = "LiteRtRunCompiledModel failed (status " + std::to_string(s) + ")";
    return false;
  }
  memcpy(output, st.output_memory, output_count_ * sizeof(float));
  return true;
}

}  // namespace hkdemo
