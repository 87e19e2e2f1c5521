#include "hashed_weights.h"

#include <inttypes.h>

#include "hash_contract.h"
#include "simd_hash.h"

namespace hk {

Status ParseHashedWeightsOptions(const uint8_t* options, size_t length,
                                 HashedWeightsPlan* plan) {
  *plan = HashedWeightsPlan();
  OptionsMap map(options, length);
  HK_RETURN_IF_ERROR(map.Init());
  HK_RETURN_IF_ERROR(map.CheckContractVersion());
  HK_RETURN_IF_ERROR(map.Seed(&plan->seed));
  int64_t buckets, bias_size;
  HK_RETURN_IF_ERROR(map.Int("buckets", &buckets));
  HK_RETURN_IF_ERROR(map.Geometry(nullptr, plan));
  const int64_t out = static_cast<int64_t>(plan->out);
  HK_RETURN_IF_ERROR(map.Bool("use_sign", &plan->use_sign));
  HK_RETURN_IF_ERROR(map.Bool("hash_bias", &plan->hash_bias));
  HK_RETURN_IF_ERROR(map.Int("bias_size", &bias_size));
  if (plan->hash_bias) {
    HK_ENSURE(bias_size == out,
              Format("key 'bias_size' = %" PRId64 " must equal the output size "
                     "%" PRId64 " when hash_bias is true", bias_size, out));
  } else {
    HK_ENSURE(bias_size == 0 || bias_size == out,
              Format("key 'bias_size' = %" PRId64 " must be 0 or the output "
                     "size %" PRId64, bias_size, out));
  }
  plan->bias_size = static_cast<uint64_t>(bias_size);
  plan->virtual_size = plan->kernel_size;
  if (plan->hash_bias) {
    HK_ENSURE(plan->bias_size <= kMaxVirtualSize - plan->kernel_size,
              "kernel_shape plus bias_size: more than 2^32 weights (the hash "
              "contract's key space)");
    plan->virtual_size += plan->bias_size;
  }
  HK_ENSURE(buckets >= 1 &&
                static_cast<uint64_t>(buckets) <= plan->virtual_size,
            Format("key 'buckets' = %" PRId64 " must be in [1, %" PRIu64
                   "] (the virtual size)", buckets, plan->virtual_size));
  plan->num_buckets = static_cast<uint64_t>(buckets);
  return Status();
}

void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias) {
  ComputeHashedWeights(plan, buckets, scale, out, bias, ActiveSimdPath());
}

void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias,
                          SimdPath path) {
  ComputeHashedTile(plan, buckets, scale, 0, plan.out, 0, plan.rows, out,
                    path);
  if (plan.hash_bias && bias != nullptr) {
    ComputeHashedBias(plan, buckets, bias, path);
  }
}

namespace {

HashGather Gather(const HashedWeightsPlan& plan, const float* buckets) {
  const DerivedSeeds seeds = DeriveSeeds(plan.seed);
  HashGather g;
  g.buckets = buckets;
  g.num_buckets = plan.num_buckets;
  g.seed_h = seeds.bucket;
  g.seed_s = seeds.sign;
  g.use_sign = plan.use_sign;
  return g;
}

}  // namespace

void ComputeHashedTile(const HashedWeightsPlan& plan, const float* buckets,
                       const float* scale, uint64_t o0, uint64_t o1,
                       uint64_t r0, uint64_t r1, float* tile, SimdPath path) {
  HashGather g = Gather(plan, buckets);
  g.has_scale = scale != nullptr;
  // weights[o, r] = virtual[r * O + o] * scale[o]: row o is the keys o, o + O,
  // o + 2 O, ... (all < 2^32, validated), hashed and gathered in blocks.
  const uint32_t stride = static_cast<uint32_t>(plan.out);
  for (uint64_t o = o0; o < o1; ++o) {
    g.scale = scale ? scale[o] : 1.0f;
    GatherHashed(path, g, static_cast<uint32_t>(o + r0 * plan.out), stride,
                 static_cast<size_t>(r1 - r0), tile + (o - o0) * (r1 - r0));
  }
}

void ComputeHashedBias(const HashedWeightsPlan& plan, const float* buckets,
                       float* bias, SimdPath path) {
  HashGather g = Gather(plan, buckets);
  GatherHashed(path, g, static_cast<uint32_t>(plan.kernel_size), 1u,
               static_cast<size_t>(plan.bias_size), bias);
}

}  // namespace hk
