#include "hashed_weights.h"

#include <inttypes.h>
#include <string.h>

#include "hash_contract.h"
#include "options.h"
#include "simd_hash.h"

namespace hk {

bool ParseHashedWeightsOptions(const uint8_t* options, size_t length,
                               HashedWeightsPlan* plan, std::string* error) {
  *plan = HashedWeightsPlan();
  OptionsMap map(options, length);
  if (!map.Init(error) || !map.CheckContractVersion(error)) return false;
  plan->contract_version = kContractVersion;
  if (!map.Seed(&plan->seed, error)) return false;
  int64_t buckets;
  if (!map.Int("buckets", &buckets, error)) return false;

  const char* layout;
  size_t layout_len;
  if (!map.String("layout", &layout, &layout_len, error)) return false;
  if (layout_len == 2 && memcmp(layout, "fc", 2) == 0) {
    plan->layout = Layout::kFc;
    plan->rank = 2;
  } else if (layout_len == 4 && memcmp(layout, "ohwi", 4) == 0) {
    plan->layout = Layout::kOhwi;
    plan->rank = 4;
  } else {
    std::string shown(layout, layout_len < 32 ? layout_len : 32);
    for (char& c : shown) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    *error = Format("key 'layout' = '%s' is not one of 'fc', 'ohwi'",
                    shown.c_str());
    return false;
  }
  uint64_t kernel_size = 0;
  if (!map.KernelShape(plan->rank,
                       plan->layout == Layout::kFc ? "layout 'fc' needs"
                                                   : "layout 'ohwi' needs",
                       plan->kernel_shape, &kernel_size, error)) {
    return false;
  }
  const int64_t out = plan->kernel_shape[plan->rank - 1];
  plan->out = static_cast<uint64_t>(out);
  plan->rows = kernel_size / plan->out;
  plan->kernel_size = kernel_size;

  if (!map.Bool("use_sign", &plan->use_sign, error) ||
      !map.Bool("hash_bias", &plan->hash_bias, error)) {
    return false;
  }
  int64_t bias_size;
  if (!map.Int("bias_size", &bias_size, error)) return false;
  if (plan->hash_bias) {
    if (bias_size != out) {
      *error = Format("key 'bias_size' = %" PRId64
                      " must equal the output size %" PRId64
                      " when hash_bias is true",
                      bias_size, out);
      return false;
    }
  } else if (bias_size != 0 && bias_size != out) {
    *error = Format("key 'bias_size' = %" PRId64 " must be 0 or the output "
                    "size %" PRId64, bias_size, out);
    return false;
  }
  plan->bias_size = static_cast<uint64_t>(bias_size);
  plan->virtual_size = kernel_size;
  if (plan->hash_bias) {
    if (plan->bias_size > kMaxVirtualSize - kernel_size) {
      *error = "kernel_shape plus bias_size: more than 2^32 weights (the "
               "hash contract's key space)";
      return false;
    }
    plan->virtual_size += plan->bias_size;
  }

  if (buckets < 1 || static_cast<uint64_t>(buckets) > plan->virtual_size) {
    *error = Format("key 'buckets' = %" PRId64 " must be in [1, %" PRIu64
                    "] (the virtual size)",
                    buckets, plan->virtual_size);
    return false;
  }
  plan->num_buckets = static_cast<uint64_t>(buckets);
  return true;
}

void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias) {
  ComputeHashedWeights(plan, buckets, scale, out, bias, ActiveSimdPath());
}

void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias,
                          SimdPath path) {
  const DerivedSeeds seeds = DeriveSeeds(plan.seed);
  HashGather g;
  g.buckets = buckets;
  g.num_buckets = plan.num_buckets;
  g.seed_h = seeds.bucket;
  g.seed_s = seeds.sign;
  g.use_sign = plan.use_sign;
  // weights[o, r] = virtual[r * O + o] * scale[o]: row o is the keys o, o + O,
  // o + 2 O, ... (all < 2^32, validated), hashed and gathered in blocks.
  const uint32_t stride = static_cast<uint32_t>(plan.out);
  for (uint64_t o = 0; o < plan.out; ++o) {
    g.has_scale = scale != nullptr;
    g.scale = scale ? scale[o] : 1.0f;
    GatherHashed(path, g, static_cast<uint32_t>(o), stride,
                 static_cast<size_t>(plan.rows), out + o * plan.rows);
  }
  if (plan.hash_bias && bias != nullptr) {
    g.has_scale = false;
    g.scale = 1.0f;
    GatherHashed(path, g, static_cast<uint32_t>(plan.kernel_size), 1u,
                 static_cast<size_t>(plan.bias_size), bias);
  }
}

}  // namespace hk
