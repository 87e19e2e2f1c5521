/* The C ABI of libhashed_keras_kernels.
 *
 * - The TFLite delegate-plugin entry points (`load_delegate(path)` in
 *   ai_edge_litert, tf.lite and tflite_runtime; a Java Delegate's native
 *   handle on Android): the delegate serves the custom operators of
 *   docs/tflite_format.md (`HashedWeights`).
 * - Plain functions for tests and fuzzing without a runtime.
 */
#ifndef HASHED_KERAS_LITE_KERNELS_HK_KERNELS_H_
#define HASHED_KERAS_LITE_KERNELS_HK_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define HK_API __declspec(dllexport)
#else
#define HK_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct TfLiteDelegate; /* opaque here: tensorflow/lite/core/c/common.h */

/* Options (key/value strings): "verbose" = "0" | "1" (logs the ABI the
 * delegate detected to stderr); "max_virtual_weights", "max_rebuild_bytes"
 * (decimal; see HkLimits); "weights" = "rebuilt" (default: every weight
 * tensor rebuilt once) | "on_the_fly" (FULLY_CONNECTED and CONV_2D nodes
 * computed from the shared variables at every invoke, no rebuilt weights held;
 * docs/tflite_format.md, "On the fly"). Unknown keys or values make creation
 * fail (null). */
HK_API struct TfLiteDelegate* tflite_plugin_create_delegate(
    char** options_keys, char** options_values, size_t num_options,
    void (*report_error)(const char*));
HK_API void tflite_plugin_destroy_delegate(struct TfLiteDelegate* delegate);

/* Limits on what a model file can make the library (and, through the
 * verifier, the runtime) allocate and compute. A field of 0 means "the
 * default" (HK_DEFAULT_*). Shared by the verifier (hk_verify_model) and the
 * delegate (plugin options "max_virtual_weights", "max_rebuild_bytes" as
 * decimal strings). `struct_size` = sizeof(HkLimits) of the caller, so the
 * struct can grow. */
#define HK_DEFAULT_MAX_VIRTUAL_WEIGHTS (1ull << 26) /* 67,108,864 weights */
#define HK_DEFAULT_MAX_REBUILD_BYTES (1ull << 28)   /* 256 MiB */
#define HK_DEFAULT_MAX_TENSOR_BYTES (1ull << 30)    /* 1 GiB, one tensor */
typedef struct HkLimits {
  uint64_t struct_size;
  /* Virtual weights (and hashed biases) rebuilt by all of the model's
   * operators together. */
  uint64_t max_virtual_weights;
  /* Bytes the delegate allocates for rebuilt outputs, dequantized inputs and
   * scratch, all operators together. */
  uint64_t max_rebuild_bytes;
  /* Bytes of any one non-constant tensor the runtime would allocate
   * (verifier only). */
  uint64_t max_tensor_bytes;
} HkLimits;

/* Result codes of hk_verify_model: HK_OK, or what kind of problem. */
#define HK_VERIFY_SCHEMA 10   /* not a TFLite flatbuffer (schema verifier) */
#define HK_VERIFY_BUFFER 11   /* a buffer outside the file / wrong size */
#define HK_VERIFY_INDEX 12    /* a tensor/buffer/opcode/subgraph index out of range */
#define HK_VERIFY_TENSOR 13   /* a tensor's shape, type or byte size */
#define HK_VERIFY_GRAPH 14    /* a constant as graph input / op output, etc. */
#define HK_VERIFY_OPERATOR 15 /* one of our operators is invalid */
#define HK_VERIFY_LIMIT 16    /* over a limit of HkLimits */

/* Verifies `size` bytes of a .tflite model before a runtime sees them (see
 * docs/tflite_format.md, "Verification"). `limits` may be null (defaults).
 * Returns HK_OK, or an HK_VERIFY_* code with one line in `error` (what is
 * wrong, where, and what to do), truncated to error_len. Never reads outside
 * [data, data + size). */
HK_API int hk_verify_model(const uint8_t* data, size_t size,
                           const HkLimits* limits, char* error,
                           size_t error_len);

/* Status codes of hk_hashed_weights. */
#define HK_OK 0
#define HK_ERROR_OPTIONS 1   /* the custom options are invalid */
#define HK_ERROR_ARGUMENTS 2 /* a buffer's length disagrees with them */

/* xxHash32 of the key's 4 little-endian bytes (hash contract v1). */
HK_API uint32_t hk_xxh32(uint32_t key, uint32_t seed);

/* Rebuilds the weights of one HashedWeights operator, exactly as the kernel
 * does: `options` are its custom options (FlexBuffers), `buckets` has
 * `num_buckets` (= K) values, `scale` is null (scale_len 0) or has `out`
 * values, `out` receives out_len = prod(kernel_shape) values in the layout's
 * order, `bias_out` receives bias_len = bias_size values iff hash_bias (else
 * null, 0). Returns HK_OK, or an error code with a NUL-terminated message in
 * `error` (truncated to error_len). Never reads or writes out of bounds. */
HK_API int hk_hashed_weights(const uint8_t* options, size_t options_len,
                             const float* buckets, int64_t num_buckets,
                             const float* scale, int64_t scale_len, float* out,
                             int64_t out_len, float* bias_out,
                             int64_t bias_len, char* error, size_t error_len);

/* Rebuilds the OHWI weights of one FreshWeights operator, exactly as the
 * kernel does: `buckets` has K = sum(band_buckets) values, `scale` is null
 * (scale_len 0) or has `out` values, `out` receives out_len =
 * prod(kernel_shape) values. Same return codes and guarantees as
 * hk_hashed_weights. */
HK_API int hk_fresh_weights(const uint8_t* options, size_t options_len,
                            const float* buckets, int64_t num_buckets,
                            const float* scale, int64_t scale_len, float* out,
                            int64_t out_len, char* error, size_t error_len);

/* Rebuilds one SMHWeights operator's weights (and bias, iff bias_size): `u`
 * and `v` hold rank * n values each, `scales` 2 (kernel scale, bias scale),
 * `channel_scale` null (channel_len 0) or `out` values; out_len =
 * prod(kernel_shape), bias_len = bias_size. Same return codes and guarantees
 * as hk_hashed_weights. */
HK_API int hk_smh_weights(const uint8_t* options, size_t options_len,
                          const float* u, int64_t u_len, const float* v,
                          int64_t v_len, const float* scales,
                          int64_t scales_len, const float* channel_scale,
                          int64_t channel_len, float* out, int64_t out_len,
                          float* bias_out, int64_t bias_len, char* error,
                          size_t error_len);

/* The library version ("0.1.0"). */
HK_API const char* hk_kernels_version(void);

#ifdef __cplusplus
}
#endif

#endif /* HASHED_KERAS_LITE_KERNELS_HK_KERNELS_H_ */
