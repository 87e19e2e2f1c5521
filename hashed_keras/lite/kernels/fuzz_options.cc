// libFuzzer target: options parsing + validation + compute of every operator
// (the same bytes go through each parser: HashedWeights, FreshWeights,
// SMHWeights).
// Build: cmake -DHK_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...; run with a seed
// corpus of valid options (hk_kernel_test --write-corpus DIR).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <string>
#include <vector>

#include "fresh_weights.h"
#include "hashed_weights.h"
#include "hk_kernels.h"
#include "smh_weights.h"

namespace {

void FuzzHashedWeights(const uint8_t* data, size_t size) {
  char error[128];
  hk::HashedWeightsPlan plan;
  const hk::Status parsed = hk::ParseHashedWeightsOptions(data, size, &plan);
  if (!parsed.ok()) {
    // The C entry point must refuse the same bytes, with a message.
    if (hk_hashed_weights(data, size, nullptr, 0, nullptr, 0, nullptr, 0,
                          nullptr, 0, error, sizeof(error)) != HK_ERROR_OPTIONS ||
        error[0] == '\0') {
      __builtin_trap();
    }
    return;
  }
  // Valid options: compute with exact buffers (bounded, to stay fast), and
  // check that off-by-one lengths are refused.
  if (plan.kernel_size > (1u << 16)) return;
  std::vector<float> buckets(plan.num_buckets);
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] = static_cast<float>(i);
  std::vector<float> scale(plan.out, 2.0f);
  std::vector<float> out(plan.kernel_size);
  std::vector<float> bias(plan.hash_bias ? plan.bias_size : 0);
  float* bias_ptr = plan.hash_bias ? bias.data() : nullptr;
  const auto k = static_cast<int64_t>(buckets.size());
  const auto n = static_cast<int64_t>(out.size());
  const auto nb = static_cast<int64_t>(bias.size());
  const bool use_scale = (size & 1) != 0;
  const float* scale_ptr = use_scale ? scale.data() : nullptr;
  const int64_t scale_len = use_scale ? static_cast<int64_t>(scale.size()) : 0;
  if (hk_hashed_weights(data, size, buckets.data(), k, scale_ptr, scale_len,
                        out.data(), n, bias_ptr, nb, error,
                        sizeof(error)) != HK_OK) {
    __builtin_trap();
  }
  // Every value is +-bucket (times the scale): in range.
  const float bound = static_cast<float>(buckets.size()) * 2.0f;
  for (float v : out) {
    if (!(v <= bound && v >= -bound)) __builtin_trap();
  }
  if (hk_hashed_weights(data, size, buckets.data(), k, scale_ptr, scale_len,
                        out.data(), n - 1, bias_ptr, nb, error,
                        sizeof(error)) != HK_ERROR_ARGUMENTS ||
      hk_hashed_weights(data, size, buckets.data(), k - 1, scale_ptr,
                        scale_len, out.data(), n, bias_ptr, nb, error,
                        sizeof(error)) != HK_ERROR_ARGUMENTS) {
    __builtin_trap();
  }
  }

void FuzzFreshWeights(const uint8_t* data, size_t size) {
  char error[128];
  hk::FreshWeightsPlan plan;
  const hk::Status parsed = hk::ParseFreshWeightsOptions(data, size, &plan);
  if (!parsed.ok()) {
    if (hk_fresh_weights(data, size, nullptr, 0, nullptr, 0, nullptr, 0,
                         error, sizeof(error)) != HK_ERROR_OPTIONS ||
        error[0] == '\0') {
      __builtin_trap();
    }
    return;
  }
  if (plan.kernel_size > (1u << 14)) return;
  std::vector<float> buckets(plan.num_buckets, 1.0f);
  std::vector<float> out(plan.kernel_size);
  const auto k = static_cast<int64_t>(buckets.size());
  const auto n = static_cast<int64_t>(out.size());
  if (hk_fresh_weights(data, size, buckets.data(), k, nullptr, 0, out.data(),
                       n, error, sizeof(error)) != HK_OK) {
    __builtin_trap();
  }
  // An orthonormal inverse DCT of +-1 coefficients: |w| <= kh * kw.
  const float bound = static_cast<float>(plan.kernel_shape[0] *
                                         plan.kernel_shape[1]) + 1.0f;
  for (float v : out) {
    if (!(v <= bound && v >= -bound)) __builtin_trap();
  }
  if (hk_fresh_weights(data, size, buckets.data(), k, nullptr, 0, out.data(),
                       n - 1, error, sizeof(error)) != HK_ERROR_ARGUMENTS ||
      hk_fresh_weights(data, size, buckets.data(), k - 1, nullptr, 0,
                       out.data(), n, error, sizeof(error)) !=
          HK_ERROR_ARGUMENTS) {
    __builtin_trap();
  }
}

void FuzzSmhWeights(const uint8_t* data, size_t size) {
  char error[128];
  hk::SmhWeightsPlan plan;
  const hk::Status parsed = hk::ParseSmhWeightsOptions(data, size, &plan);
  if (!parsed.ok()) {
    if (hk_smh_weights(data, size, nullptr, 0, nullptr, 0, nullptr, 0, nullptr,
                       0, nullptr, 0, nullptr, 0, error, sizeof(error)) !=
            HK_ERROR_OPTIONS ||
        error[0] == '\0') {
      __builtin_trap();
    }
    return;
  }
  if (plan.kernel_size > (1u << 14) || plan.rank * plan.n > (1u << 16) ||
      plan.ScratchSize() > (1u << 16)) {
    return;
  }
  // U = V = 1: every entry of M-hat is `rank`.
  std::vector<float> u(plan.rank * plan.n, 1.0f), v(u);
  const float scales[2] = {0.5f, 2.0f};
  std::vector<float> out(plan.kernel_size), bias(plan.bias_size);
  float* bias_ptr = plan.bias_size ? bias.data() : nullptr;
  const auto f = static_cast<int64_t>(u.size());
  const auto n = static_cast<int64_t>(out.size());
  const auto nb = static_cast<int64_t>(bias.size());
  if (hk_smh_weights(data, size, u.data(), f, v.data(), f, scales, 2, nullptr, 0,
                     out.data(), n, bias_ptr, nb, error, sizeof(error)) != HK_OK) {
    __builtin_trap();
  }
  const float want = 0.5f * static_cast<float>(plan.rank);
  for (float w : out) {
    if (w != want) __builtin_trap();
  }
  if (hk_smh_weights(data, size, u.data(), f - 1, v.data(), f, scales, 2,
                     nullptr, 0, out.data(), n, bias_ptr, nb, error,
                     sizeof(error)) != HK_ERROR_ARGUMENTS ||
      hk_smh_weights(data, size, u.data(), f, v.data(), f, scales, 2, nullptr,
                     0, out.data(), n + 1, bias_ptr, nb, error,
                     sizeof(error)) != HK_ERROR_ARGUMENTS) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzHashedWeights(data, size);
  FuzzFreshWeights(data, size);
  FuzzSmhWeights(data, size);
  return 0;
}
