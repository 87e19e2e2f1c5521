// The plain C functions of hk_kernels.h (no runtime involved).
#include <inttypes.h>
#include <string.h>

#include <new>
#include <string>
#include <vector>

#include "fresh_weights.h"
#include "hash_contract.h"
#include "hashed_weights.h"
#include "hk_kernels.h"
#include "smh_weights.h"

namespace {

using hk::Format;

int Fail(int code, const std::string& message, char* error,
         size_t error_len) {
  if (error != nullptr && error_len > 0) {
    const size_t n = message.size() < error_len - 1 ? message.size()
                                                    : error_len - 1;
    memcpy(error, message.data(), n);
    error[n] = '\0';
  }
  return code;
}

// The lengths every weights op checks: buckets, optional scale, output.
hk::Status CheckLengths(uint64_t k, uint64_t out_channels, uint64_t out_size,
                        const float* buckets, int64_t num_buckets,
                        const float* scale, int64_t scale_len,
                        const float* out, int64_t out_len) {
  HK_ENSURE(buckets != nullptr && num_buckets >= 0 &&
                static_cast<uint64_t>(num_buckets) == k,
            Format("buckets has %" PRId64 " values; key 'buckets' says "
                   "%" PRIu64, buckets ? num_buckets : int64_t{0}, k));
  HK_ENSURE(scale == nullptr
                ? scale_len == 0
                : scale_len >= 0 &&
                      static_cast<uint64_t>(scale_len) == out_channels,
            Format("scale has %" PRId64 " values; expected %" PRIu64
                   " (the output size) or none", scale_len, out_channels));
  HK_ENSURE(out != nullptr && out_len >= 0 &&
                static_cast<uint64_t>(out_len) == out_size,
            Format("output has %" PRId64 " values; kernel_shape needs "
                   "%" PRIu64, out ? out_len : int64_t{0}, out_size));
  return hk::Status();
}

}  // namespace

extern "C" {

HK_API uint32_t hk_xxh32(uint32_t key, uint32_t seed) {
  return hk::Xxh32(key, seed);
}

HK_API const char* hk_kernels_version(void) { return "0.1.0"; }

HK_API int hk_hashed_weights(const uint8_t* options, size_t options_len,
                             const float* buckets, int64_t num_buckets,
                             const float* scale, int64_t scale_len, float* out,
                             int64_t out_len, float* bias_out,
                             int64_t bias_len, char* error, size_t error_len) {
  hk::HashedWeightsPlan plan;
  hk::Status s = hk::ParseHashedWeightsOptions(options, options_len, &plan);
  if (!s.ok()) return Fail(HK_ERROR_OPTIONS, s.message(), error, error_len);
  s = CheckLengths(plan.num_buckets, plan.out, plan.kernel_size, buckets,
                   num_buckets, scale, scale_len, out, out_len);
  if (!s.ok()) return Fail(HK_ERROR_ARGUMENTS, s.message(), error, error_len);
  if (plan.hash_bias) {
    if (bias_out == nullptr || bias_len < 0 ||
        static_cast<uint64_t>(bias_len) != plan.bias_size) {
      return Fail(HK_ERROR_ARGUMENTS,
                  Format("bias output has %" PRId64 " values; key "
                         "'bias_size' says %" PRIu64,
                         bias_out ? bias_len : int64_t{0}, plan.bias_size),
                  error, error_len);
    }
  } else if (bias_out != nullptr || bias_len != 0) {
    return Fail(HK_ERROR_ARGUMENTS,
                "a bias output was given but hash_bias is false", error,
                error_len);
  }
  hk::ComputeHashedWeights(plan, buckets, scale, out, bias_out);
  return Fail(HK_OK, "", error, error_len);
}

HK_API int hk_fresh_weights(const uint8_t* options, size_t options_len,
                            const float* buckets, int64_t num_buckets,
                            const float* scale, int64_t scale_len, float* out,
                            int64_t out_len, char* error, size_t error_len) {
  hk::FreshWeightsPlan plan;
  hk::Status s = hk::ParseFreshWeightsOptions(options, options_len, &plan);
  if (!s.ok()) return Fail(HK_ERROR_OPTIONS, s.message(), error, error_len);
  s = CheckLengths(plan.num_buckets, plan.out, plan.kernel_size, buckets,
                   num_buckets, scale, scale_len, out, out_len);
  if (!s.ok()) return Fail(HK_ERROR_ARGUMENTS, s.message(), error, error_len);
  hk::ComputeFreshWeights(plan, buckets, scale, out);
  return Fail(HK_OK, "", error, error_len);
}

HK_API int hk_smh_weights(const uint8_t* options, size_t options_len,
                          const float* u, int64_t u_len, const float* v,
                          int64_t v_len, const float* scales,
                          int64_t scales_len, const float* channel_scale,
                          int64_t channel_len, float* out, int64_t out_len,
                          float* bias_out, int64_t bias_len, char* error,
                          size_t error_len) {
  hk::SmhWeightsPlan plan;
  hk::Status s = hk::ParseSmhWeightsOptions(options, options_len, &plan);
  if (!s.ok()) return Fail(HK_ERROR_OPTIONS, s.message(), error, error_len);
  const uint64_t factor = plan.rank * plan.n;
  auto wrong = [](const void* p, int64_t len, uint64_t want) {
    return p == nullptr || len < 0 || static_cast<uint64_t>(len) != want;
  };
  if (wrong(u, u_len, factor) || wrong(v, v_len, factor)) {
    return Fail(HK_ERROR_ARGUMENTS,
                Format("U and V must have rank * n = %" PRIu64 " values, got "
                       "%" PRId64 " and %" PRId64, factor, u_len, v_len),
                error, error_len);
  }
  if (wrong(scales, scales_len, 2)) {
    return Fail(HK_ERROR_ARGUMENTS,
                Format("scales has %" PRId64 " values; expected 2",
                       scales_len), error, error_len);
  }
  if (channel_scale == nullptr ? channel_len != 0
                               : wrong(channel_scale, channel_len, plan.out)) {
    return Fail(HK_ERROR_ARGUMENTS,
                Format("channel scale has %" PRId64 " values; expected %" PRIu64
                       " or none", channel_len, plan.out), error, error_len);
  }
  if (wrong(out, out_len, plan.kernel_size)) {
    return Fail(HK_ERROR_ARGUMENTS,
                Format("output has %" PRId64 " values; kernel_shape needs "
                       "%" PRIu64, out_len, plan.kernel_size), error,
                error_len);
  }
  if (plan.bias_size ? wrong(bias_out, bias_len, plan.bias_size)
                     : (bias_out != nullptr || bias_len != 0)) {
    return Fail(HK_ERROR_ARGUMENTS,
                Format("bias output has %" PRId64 " values; key 'bias_size' "
                       "says %" PRIu64, bias_len, plan.bias_size), error,
                error_len);
  }
  std::vector<double> scratch;
  try {
    scratch.resize(static_cast<size_t>(plan.ScratchSize()));
  } catch (const std::bad_alloc&) {
    return Fail(HK_ERROR_ARGUMENTS,
                Format("out of memory for %" PRIu64 " scratch values",
                       plan.ScratchSize()), error, error_len);
  }
  hk::ComputeSmhWeights(plan, u, v, scales, channel_scale, scratch.data(),
                        out, bias_out);
  return Fail(HK_OK, "", error, error_len);
}

}  // extern "C"
