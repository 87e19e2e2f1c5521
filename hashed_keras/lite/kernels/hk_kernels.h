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
 * delegate detected to stderr). Unknown keys make creation fail (null). */
HK_API struct TfLiteDelegate* tflite_plugin_create_delegate(
    char** options_keys, char** options_values, size_t num_options,
    void (*report_error)(const char*));
HK_API void tflite_plugin_destroy_delegate(struct TfLiteDelegate* delegate);

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
