// The subset of the TensorFlow Lite C ABI (tensorflow/lite/core/c/common.h)
// that the hashed_keras kernels use, declared here so the library builds
// without TensorFlow headers.
//
// These declarations must match the *binary layout* of the runtimes that load
// the library (field order, types, sizes). They follow the upstream header's
// public layout, which has been append-only ("semi-ABI stable") since TF 2.x:
//
//   * TfLiteTensor, TfLiteNode, TfLiteContext: only fields the kernels read
//     or call are relied upon; everything up to the last used field is
//     declared in order. `delegate.cc` sanity-checks the tensor stride at run
//     time (every tensor's enum/flag fields in range) before claiming nodes.
//   * TfLiteRegistration: passed *by value* to
//     ReplaceNodeSubsetsWithDelegateKernels, so its size must be the
//     runtime's. Four layouts exist upstream (V1: 8 fields, V2: +
//     registration_external, V3: + async_kernel, V4: + inplace_operator).
//     `delegate.cc` measures the runtime's size and passes exactly that many
//     bytes.
//   * TfLiteDelegate: allocated by us (zero-filled, with spare zeroed room
//     after it), so older runtimes that know fewer fields are served too.
//
// Everything lives in namespace hk::tfl so the library can be linked into an
// application that also includes the real TFLite headers.
#ifndef HASHED_KERAS_LITE_KERNELS_TFLITE_ABI_H_
#define HASHED_KERAS_LITE_KERNELS_TFLITE_ABI_H_

#include <stddef.h>
#include <stdint.h>

namespace hk {
namespace tfl {

extern "C" {

typedef enum TfLiteStatus : int {
  kTfLiteOk = 0,
  kTfLiteError = 1,
  kTfLiteDelegateError = 2,
  kTfLiteApplicationError = 3,
  kTfLiteDelegateDataNotFound = 4,
  kTfLiteDelegateDataWriteError = 5,
  kTfLiteDelegateDataReadError = 6,
  kTfLiteUnresolvedOps = 7,
  kTfLiteCancelled = 8,
} TfLiteStatus;

// TfLiteType: only the values the kernels compare against. The underlying
// type is fixed (int, as the C enum's) so that any value a runtime or a
// model file puts there (e.g. kTfLiteInt4 = 18) is a valid value to load:
// without it, values past the declared range are undefined behaviour in C++.
typedef enum TfLiteType : int {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt16 = 7,
  kTfLiteInt8 = 9,
} TfLiteType;

typedef enum TfLiteAllocationType : int {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,
  kTfLiteCustom = 6,
  kTfLiteVariantObject = 7,
  kTfLiteNonCpu = 8,
} TfLiteAllocationType;

// BuiltinOperator codes used by the delegate.
enum {
  kTfLiteBuiltinCustom = 32,
  kTfLiteBuiltinDelegate = 51,
};

enum {
  kTfLiteDelegateFlagsNone = 0,
  kTfLiteDelegateFlagsAllowDynamicTensors = 1,
};

enum { kTfLiteOptionalTensor = -1 };

typedef struct TfLiteIntArray {
  int size;
  int data[];  // flexible array member (GNU/Clang extension in C++)
} TfLiteIntArray;

typedef struct TfLiteQuantizationParams {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct TfLiteQuantization {
  int type;  // TfLiteQuantizationType (an int-sized enum)
  void* params;
} TfLiteQuantization;

typedef union TfLitePtrUnion {
  float* f;
  char* raw;
  const char* raw_const;
  void* data;
} TfLitePtrUnion;

struct TfLiteContext;
struct TfLiteDelegate;
struct TfLiteRegistration;

typedef int TfLiteBufferHandle;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  TfLiteAllocationType allocation_type;
  size_t bytes;
  const void* allocation;
  const char* name;
  struct TfLiteDelegate* delegate;
  TfLiteBufferHandle buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  void* sparsity;  // TfLiteSparsity*
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  struct TfLiteDelegate* delegate;
  // (newer runtimes append fields, e.g. might_have_side_effect; never read)
} TfLiteNode;

// builtin_data of a FULLY_CONNECTED node (tensorflow/lite/core/c/
// builtin_op_data.h): the prefix unchanged since TF 2.1; newer runtimes
// append fields (asymmetric_quantize_inputs, quantized_bias_type), never read
// here. The fused activations are TfLiteFusedActivation's values.
enum {
  kTfLiteActNone = 0,
  kTfLiteActRelu = 1,
  kTfLiteActReluN1To1 = 2,
  kTfLiteActRelu6 = 3,
};
typedef struct TfLiteFullyConnectedParamsPrefix {
  int activation;      // TfLiteFusedActivation
  int weights_format;  // TfLiteFullyConnectedWeightsFormat: 0 = default
  bool keep_num_dims;
} TfLiteFullyConnectedParamsPrefix;

// builtin_data of a CONV_2D node: the prefix of TfLiteConvParams (version 1
// and 2 fields; newer runtimes append quantized_bias_type, never read).
enum { kTfLitePaddingSame = 1, kTfLitePaddingValid = 2 };
typedef struct TfLiteConvParamsPrefix {
  int padding;  // TfLitePadding
  int stride_width;
  int stride_height;
  int activation;  // TfLiteFusedActivation
  int dilation_width_factor;
  int dilation_height_factor;
} TfLiteConvParamsPrefix;

typedef struct TfLiteDelegateParams {
  struct TfLiteDelegate* delegate;
  TfLiteIntArray* nodes_to_replace;
  TfLiteIntArray* input_tensors;
  TfLiteIntArray* output_tensors;
} TfLiteDelegateParams;

// The current (V4) registration layout. Older runtimes use a prefix of it.
typedef struct TfLiteRegistration {
  void* (*init)(struct TfLiteContext* context, const char* buffer,
                size_t length);
  void (*free)(struct TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(struct TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(struct TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const struct TfLiteContext* context,
                                  const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;  // V2+: TfLiteOperator*
  void* async_kernel;           // V3+: function pointer, unused (null)
  uint64_t inplace_operator;    // V4+
} TfLiteRegistration;

// The V1 layout: the prefix every runtime's registration starts with. Fields
// of registrations the runtime owns are read through it, so a runtime with a
// smaller registration is never read past its end.
typedef struct TfLiteRegistrationV1 {
  void* (*init)(struct TfLiteContext* context, const char* buffer,
                size_t length);
  void (*free)(struct TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(struct TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(struct TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const struct TfLiteContext* context,
                                  const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
} TfLiteRegistrationV1;

// Size of each historical layout on this target (the offset of the first
// field a layout lacks, rounded up to the struct's alignment).
#define HK_TFL_REG_SIZE_V1 \
  ((offsetof(TfLiteRegistration, registration_external) + sizeof(void*) - 1) / \
   sizeof(void*) * sizeof(void*))
#define HK_TFL_REG_SIZE_V2 offsetof(TfLiteRegistration, async_kernel)
#define HK_TFL_REG_SIZE_V3 \
  ((offsetof(TfLiteRegistration, inplace_operator) + sizeof(void*) - 1) / \
   sizeof(void*) * sizeof(void*))
#define HK_TFL_REG_SIZE_V4 sizeof(TfLiteRegistration)

typedef struct TfLiteExternalContext TfLiteExternalContext;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext* context,
                                   TfLiteIntArray** execution_plan);
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor* tensor,
                               TfLiteIntArray* new_size);
  void (*ReportError)(struct TfLiteContext*, const char* msg, ...);
  TfLiteStatus (*AddTensors)(struct TfLiteContext*, int tensors_to_add,
                             int* first_new_tensor_index);
  TfLiteStatus (*GetNodeAndRegistration)(
      struct TfLiteContext*, int node_index, TfLiteNode** node,
      struct TfLiteRegistration** registration);
  // Declared with the V4 registration; delegate.cc calls it through a
  // function-pointer type whose by-value argument has the runtime's size.
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(
      struct TfLiteContext*, struct TfLiteRegistration registration,
      const TfLiteIntArray* nodes_to_replace, struct TfLiteDelegate* delegate);
  int recommended_num_threads;
  void* GetExternalContext;
  void* SetExternalContext;
  bool allow_fp32_relax_to_fp16;
  void* profiler;
  void* (*AllocatePersistentBuffer)(struct TfLiteContext* ctx, size_t bytes);
  void* AllocateBufferForEval;
  void* RequestScratchBufferInArena;
  void* GetScratchBuffer;
  void* ResizeTensorExplicit;
  void* PreviewDelegatePartitioning;
  TfLiteTensor* (*GetTensor)(const struct TfLiteContext* context,
                             int tensor_idx);
  // (later fields are never read)
} TfLiteContext;

typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext* context,
                          struct TfLiteDelegate* delegate);
  void* CopyFromBufferHandle;
  void* CopyToBufferHandle;
  void* FreeBufferHandle;
  int64_t flags;
  void* opaque_delegate_builder;  // must stay null for a classic delegate
} TfLiteDelegate;

}  // extern "C"

// Layout checks (64-bit targets) against the sizes measured in the runtimes
// (tflite-runtime 2.14: sizeof(TfLiteTensor) = 112, node+registration pair =
// 168 with the registration at offset 80, i.e. TfLiteRegistration = 88).
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
static_assert(sizeof(TfLiteTensor) == 112, "TfLiteTensor layout");
static_assert(offsetof(TfLiteTensor, allocation_type) == 32, "TfLiteTensor");
static_assert(offsetof(TfLiteTensor, name) == 56, "TfLiteTensor layout");
static_assert(offsetof(TfLiteNode, delegate) == 64, "TfLiteNode layout");
static_assert(sizeof(TfLiteRegistration) == 88, "TfLiteRegistration V4");
static_assert(HK_TFL_REG_SIZE_V1 == 64, "TfLiteRegistration V1");
static_assert(sizeof(TfLiteRegistrationV1) == 64, "TfLiteRegistration V1");
static_assert(HK_TFL_REG_SIZE_V2 == 72, "TfLiteRegistration V2");
static_assert(HK_TFL_REG_SIZE_V3 == 80, "TfLiteRegistration V3");
static_assert(offsetof(TfLiteContext, ReplaceNodeSubsetsWithDelegateKernels) ==
                  64, "TfLiteContext layout");
static_assert(offsetof(TfLiteContext, GetTensor) == 160, "TfLiteContext");
static_assert(sizeof(TfLiteDelegate) == 56, "TfLiteDelegate layout");
#endif

}  // namespace tfl
}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_TFLITE_ABI_H_
