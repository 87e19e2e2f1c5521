#include "hashed_weights.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "flexbuffers_reader.h"
#include "hash_contract.h"

namespace hk {

std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  if (n < 0) return std::string("(message formatting failed)");
  return std::string(buffer);  // truncated at 511 characters at most
}

namespace {

using flex::Ref;
using flex::Status;

// Looks up `key` and reports a missing key.
bool FindKey(const flex::Map& map, const char* key, Ref* ref,
             std::string* error) {
  if (map.Find(key, ref)) return true;
  *error = Format("missing key '%s'", key);
  return false;
}

bool ReportStatus(Status status, const char* key, const char* expected,
                  const Ref& ref, std::string* error) {
  switch (status) {
    case Status::kOk:
      return true;
    case Status::kWrongType:
      *error = Format("key '%s' must be %s, got %s", key, expected,
                      flex::TypeName(ref.type()));
      return false;
    case Status::kOutOfRange:
      *error = Format("key '%s': value out of range", key);
      return false;
    case Status::kTooLong:
      *error = Format("key '%s': too many elements", key);
      return false;
    case Status::kCorrupt:
    default:
      *error = Format("key '%s': value points outside the buffer (corrupt "
                      "FlexBuffers)", key);
      return false;
  }
}

bool GetInt(const flex::Reader& reader, const flex::Map& map, const char* key,
            int64_t* out, std::string* error) {
  Ref ref;
  if (!FindKey(map, key, &ref, error)) return false;
  return ReportStatus(reader.AsInt64(ref, out), key, "an int", ref, error);
}

bool GetBool(const flex::Reader& reader, const flex::Map& map, const char* key,
             bool* out, std::string* error) {
  Ref ref;
  if (!FindKey(map, key, &ref, error)) return false;
  return ReportStatus(reader.AsBool(ref, out), key, "a bool", ref, error);
}

constexpr size_t kMaxRank = 8;  // read up to this many dims to report rank

}  // namespace

bool ParseHashedWeightsOptions(const uint8_t* options, size_t length,
                               HashedWeightsPlan* plan, std::string* error) {
  *plan = HashedWeightsPlan();
  if (options == nullptr || length == 0) {
    *error = "no custom options (expected a FlexBuffers map)";
    return false;
  }
  flex::Reader reader(options, length);
  Ref root;
  flex::Map map;
  std::string why;
  if (!reader.Root(&root, &why) || !map.Init(reader, root, &why)) {
    *error = "custom options are not a valid FlexBuffers map: " + why;
    return false;
  }

  // contract_version first: a future version may change every other key.
  int64_t version;
  if (!GetInt(reader, map, "contract_version", &version, error)) return false;
  if (version != kContractVersion) {
    *error = Format("unsupported contract_version %" PRId64
                    " (this library implements %d)",
                    version, kContractVersion);
    return false;
  }
  plan->contract_version = version;

  int64_t seed;
  if (!GetInt(reader, map, "seed", &seed, error)) return false;
  if (seed < 0 || static_cast<uint64_t>(seed) > 0xFFFFFFFFu) {
    *error = Format("key 'seed' = %" PRId64 " is outside [0, 2^32)", seed);
    return false;
  }
  plan->seed = static_cast<uint32_t>(seed);

  int64_t buckets;
  if (!GetInt(reader, map, "buckets", &buckets, error)) return false;

  // layout
  Ref ref;
  if (!FindKey(map, "layout", &ref, error)) return false;
  const char* layout;
  size_t layout_len;
  if (!ReportStatus(reader.AsString(ref, &layout, &layout_len), "layout",
                    "a string", ref, error)) {
    return false;
  }
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

  // kernel_shape
  if (!FindKey(map, "kernel_shape", &ref, error)) return false;
  int64_t dims[kMaxRank];
  size_t count = 0;
  const Status s = reader.AsIntVector(ref, dims, kMaxRank, &count);
  if (s == Status::kTooLong || (s == Status::kOk &&
                                count != static_cast<size_t>(plan->rank))) {
    *error = Format("key 'kernel_shape' has %zu dims; layout '%s' needs %d",
                    count, plan->layout == Layout::kFc ? "fc" : "ohwi",
                    plan->rank);
    return false;
  }
  if (!ReportStatus(s, "kernel_shape", "a vector of int", ref, error)) {
    return false;
  }
  uint64_t kernel_size = 1;
  for (int i = 0; i < plan->rank; ++i) {
    if (dims[i] <= 0) {
      *error = Format("key 'kernel_shape'[%d] = %" PRId64 " must be positive",
                      i, dims[i]);
      return false;
    }
    // kernel_size <= 2^32 and dims[i] < 2^63: check before multiplying.
    if (static_cast<uint64_t>(dims[i]) > kMaxVirtualSize ||
        kernel_size > kMaxVirtualSize / static_cast<uint64_t>(dims[i])) {
      *error = "key 'kernel_shape': more than 2^32 weights (the hash "
               "contract's key space)";
      return false;
    }
    kernel_size *= static_cast<uint64_t>(dims[i]);
    plan->kernel_shape[i] = dims[i];
  }
  plan->out = static_cast<uint64_t>(dims[plan->rank - 1]);
  plan->rows = kernel_size / plan->out;
  plan->kernel_size = kernel_size;
  // TFLite dims are int32: every output dimension must fit one.
  for (int i = 0; i < plan->rank; ++i) {
    if (dims[i] > INT32_MAX) {
      *error = Format("key 'kernel_shape'[%d] = %" PRId64
                      " does not fit a tensor dimension", i, dims[i]);
      return false;
    }
  }

  if (!GetBool(reader, map, "use_sign", &plan->use_sign, error)) return false;
  if (!GetBool(reader, map, "hash_bias", &plan->hash_bias, error)) {
    return false;
  }
  int64_t bias_size;
  if (!GetInt(reader, map, "bias_size", &bias_size, error)) return false;
  if (plan->hash_bias) {
    if (bias_size != dims[plan->rank - 1]) {
      *error = Format("key 'bias_size' = %" PRId64
                      " must equal the output size %" PRId64
                      " when hash_bias is true",
                      bias_size, dims[plan->rank - 1]);
      return false;
    }
  } else if (bias_size != 0 && bias_size != dims[plan->rank - 1]) {
    *error = Format("key 'bias_size' = %" PRId64 " must be 0 or the output "
                    "size %" PRId64, bias_size, dims[plan->rank - 1]);
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

namespace {

template <bool kUseSign, bool kScale>
void FillRows(const HashedWeightsPlan& plan, const DerivedSeeds& seeds,
              const float* buckets, const float* scale, float* out) {
  const uint64_t num_out = plan.out;
  const uint64_t rows = plan.rows;
  const uint64_t k = plan.num_buckets;
  // weights[o, r] = virtual[r * O + o] * scale[o]; keys < 2^32 (validated).
  for (uint64_t o = 0; o < num_out; ++o) {
    float* row = out + o * rows;
    const float s = kScale ? scale[o] : 1.0f;
    uint64_t key = o;
    for (uint64_t r = 0; r < rows; ++r, key += num_out) {
      const uint32_t k32 = static_cast<uint32_t>(key);
      float v = buckets[BucketOf(Xxh32(k32, seeds.bucket), k)];
      if (kUseSign && SignIsNegative(k32, seeds.sign)) v = -v;
      row[r] = kScale ? v * s : v;
    }
  }
}

}  // namespace

void ComputeHashedWeights(const HashedWeightsPlan& plan, const float* buckets,
                          const float* scale, float* out, float* bias) {
  const DerivedSeeds seeds = DeriveSeeds(plan.seed);
  if (plan.use_sign) {
    if (scale) {
      FillRows<true, true>(plan, seeds, buckets, scale, out);
    } else {
      FillRows<true, false>(plan, seeds, buckets, scale, out);
    }
  } else {
    if (scale) {
      FillRows<false, true>(plan, seeds, buckets, scale, out);
    } else {
      FillRows<false, false>(plan, seeds, buckets, scale, out);
    }
  }
  if (plan.hash_bias && bias != nullptr) {
    for (uint64_t o = 0; o < plan.bias_size; ++o) {
      const uint32_t key = static_cast<uint32_t>(plan.kernel_size + o);
      float v = buckets[BucketOf(Xxh32(key, seeds.bucket), plan.num_buckets)];
      if (plan.use_sign && SignIsNegative(key, seeds.sign)) v = -v;
      bias[o] = v;
    }
  }
}

}  // namespace hk
