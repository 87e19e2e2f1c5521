// The few LiteRT C API entry points the demo's CompiledModel runner uses,
// declared here as function-pointer types: the runner dlopen()s the runtime
// library (libLiteRt.so: in the ai-edge-litert wheel on a workstation, in the
// APK when the LiteRT AAR packages it), so nothing links against LiteRT and no
// LiteRT header is needed.
//
// Written from the upstream headers (litert/c/litert_environment.h,
// litert_model.h, litert_options.h, litert_compiled_model.h,
// litert_tensor_buffer.h, litert_tensor_buffer_requirements.h,
// litert/c/internal/litert_accelerator_registration.h and
// litert_delegate_wrapper.h) and checked against the ai-edge-litert 2.3.0
// binary: `nm -D` exports every symbol below; the disassembly shows that
// LiteRtSetDelegateFunction stores one callback (no separate destroy
// function), that LiteRtWrapDelegate takes (delegate, deleter, out), and that
// the runtime calls the accelerator's CreateDelegate with five arguments
// (runtime context, environment, accelerator, options, out).
//
// These signatures have changed between LiteRT releases (the accelerator API
// is "internal"); litert_runner.cc checks what it can at run time and refuses
// (with a message) rather than guess.
#ifndef HK_ANDROID_DEMO_LITERT_C_API_H_
#define HK_ANDROID_DEMO_LITERT_C_API_H_

#include <stddef.h>
#include <stdint.h>

namespace hkdemo {
namespace litert {

using Status = int;  // LiteRtStatus; 0 = kLiteRtStatusOk
constexpr Status kOk = 0;

// Opaque handles.
using Environment = void*;
using Model = void*;
using Options = void*;
using CompiledModel = void*;
using Signature = void*;
using Tensor = void*;
using TensorBuffer = void*;
using TensorBufferRequirements = void*;
using Accelerator = void*;
using DelegateWrapper = void*;
using ParamIndex = size_t;

// LiteRtHwAcceleratorSet bits.
constexpr int kHwAcceleratorCpu = 1;

// LiteRtElementType values used here.
constexpr int32_t kElementTypeFloat32 = 1;

// LiteRtRankedTensorType: an element type and a LiteRtLayout (rank in the low
// 7 bits, a has-strides flag, up to 8 dimensions and strides). 72 bytes on
// every ABI the demo targets (checked by static_assert in litert_runner.cc).
constexpr int kMaxRank = 8;
struct RankedTensorType {
  int32_t element_type;
  uint32_t rank : 7;
  uint32_t has_strides : 1;
  int32_t dimensions[kMaxRank];
  uint32_t strides[kMaxRank];
};

struct ApiVersion {
  int major;
  int minor;
  int patch;
};

// Environment, model, options, compiled model.
using CreateEnvironmentFn = Status (*)(int num_options, const void* options,
                                       Environment* env);
using DestroyEnvironmentFn = void (*)(Environment env);
using CreateModelFromFileFn = Status (*)(Environment env, const char* path,
                                         Model* model);
using DestroyModelFn = void (*)(Model model);
using CreateOptionsFn = Status (*)(Options* options);
using DestroyOptionsFn = void (*)(Options options);
using SetOptionsHardwareAcceleratorsFn = Status (*)(Options options,
                                                    int accelerators);
using CreateCompiledModelFn = Status (*)(Environment env, Model model,
                                         Options options,
                                         CompiledModel* compiled);
using DestroyCompiledModelFn = void (*)(CompiledModel compiled);
using RunCompiledModelFn = Status (*)(CompiledModel compiled,
                                      ParamIndex signature, size_t num_inputs,
                                      TensorBuffer* inputs, size_t num_outputs,
                                      TensorBuffer* outputs);

// Signatures and tensor types.
using GetModelSignatureFn = Status (*)(Model model, ParamIndex index,
                                       Signature* signature);
using GetNumSignatureTensorsFn = Status (*)(Signature signature,
                                            ParamIndex* count);
using GetSignatureTensorByIndexFn = Status (*)(Signature signature,
                                               ParamIndex index,
                                               Tensor* tensor);
using GetRankedTensorTypeFn = Status (*)(Tensor tensor,
                                         RankedTensorType* type);
using GetBufferRequirementsFn = Status (*)(
    CompiledModel compiled, ParamIndex signature, ParamIndex index,
    TensorBufferRequirements* requirements);
using GetRequirementsBufferSizeFn = Status (*)(
    TensorBufferRequirements requirements, size_t* size);

// Tensor buffers over memory the caller owns (64-byte aligned).
constexpr size_t kHostMemoryAlignment = 64;
using CreateTensorBufferFromHostMemoryFn = Status (*)(
    const RankedTensorType* type, void* address, size_t size,
    void (*deallocator)(void*), TensorBuffer* buffer);
using DestroyTensorBufferFn = void (*)(TensorBuffer buffer);

// Accelerators: how a TfLiteDelegate reaches a CompiledModel.
using AcceleratorGetNameFn = Status (*)(Accelerator accelerator,
                                        const char** name);
using AcceleratorGetVersionFn = Status (*)(Accelerator accelerator,
                                           ApiVersion* version);
using AcceleratorGetHardwareSupportFn = Status (*)(Accelerator accelerator,
                                                   int* hardware);
// CreateDelegate(runtime_context, environment, accelerator, options, out).
using AcceleratorCreateDelegateFn = Status (*)(void* runtime_context,
                                               Environment env,
                                               Accelerator accelerator,
                                               Options options,
                                               DelegateWrapper* out);
using CreateAcceleratorFn = Status (*)(Accelerator* accelerator);
using DestroyAcceleratorFn = Status (*)(Accelerator accelerator);
using SetAcceleratorGetNameFn = Status (*)(Accelerator, AcceleratorGetNameFn);
using SetAcceleratorGetVersionFn = Status (*)(Accelerator,
                                              AcceleratorGetVersionFn);
using SetAcceleratorGetHardwareSupportFn =
    Status (*)(Accelerator, AcceleratorGetHardwareSupportFn);
using SetDelegateFunctionFn = Status (*)(Accelerator,
                                         AcceleratorCreateDelegateFn);
using RegisterAcceleratorFn = Status (*)(Environment env,
                                         Accelerator accelerator, void* data,
                                         void (*release_data)(void*));
// The wrapper owns the delegate and calls `deleter` when the compiled model
// that applied it is destroyed. The delegate is a TfLiteOpaqueDelegate*, which
// is the same type as TfLiteDelegate* in the TFLite C API.
using WrapDelegateFn = Status (*)(void* delegate, void (*deleter)(void*),
                                  DelegateWrapper* wrapper);

}  // namespace litert
}  // namespace hkdemo

#endif  // HK_ANDROID_DEMO_LITERT_C_API_H_
