#include "options.h"

#include <inttypes.h>
#include <string.h>

#include <string>

#include "hash_contract.h"

namespace hk {

namespace {

using flex::Ref;

Status ReportStatus(flex::ReadResult status, const char* key,
                    const char* expected, const Ref& ref) {
  switch (status) {
    case flex::ReadResult::kOk:
      return Status();
    case flex::ReadResult::kWrongType:
      return Status::Error(Format("key '%s' must be %s, got %s", key, expected,
                                  flex::TypeName(ref.type())));
    case flex::ReadResult::kOutOfRange:
      return Status::Error(Format("key '%s': value out of range", key));
    case flex::ReadResult::kTooLong:
      return Status::Error(Format("key '%s': too many elements", key));
    case flex::ReadResult::kCorrupt:
    default:
      return Status::Error(Format("key '%s': value points outside the buffer "
                                  "(corrupt FlexBuffers)", key));
  }
}

}  // namespace

const char* LayoutName(Layout layout) {
  return layout == Layout::kFc ? "fc" : "ohwi";
}

Status OptionsMap::Init() {
  HK_ENSURE(present_, "no custom options (expected a FlexBuffers map)");
  Ref root;
  Status valid = reader_.Root(&root);
  if (valid.ok()) valid = map_.Init(reader_, root);
  HK_ENSURE(valid.ok(), "custom options are not a valid FlexBuffers map: " +
                            valid.message());
  return Status();
}

Status OptionsMap::Find(const char* key, Ref* ref) const {
  HK_ENSURE(map_.Find(key, ref), Format("missing key '%s'", key));
  return Status();
}

Status OptionsMap::Int(const char* key, int64_t* out) const {
  Ref ref;
  HK_RETURN_IF_ERROR(Find(key, &ref));
  return ReportStatus(reader_.AsInt64(ref, out), key, "an int", ref);
}

Status OptionsMap::Bool(const char* key, bool* out) const {
  Ref ref;
  HK_RETURN_IF_ERROR(Find(key, &ref));
  return ReportStatus(reader_.AsBool(ref, out), key, "a bool", ref);
}

Status OptionsMap::String(const char* key, const char** str,
                          size_t* len) const {
  Ref ref;
  HK_RETURN_IF_ERROR(Find(key, &ref));
  return ReportStatus(reader_.AsString(ref, str, len), key, "a string", ref);
}

Status OptionsMap::IntVector(const char* key, int64_t* out, size_t capacity,
                             size_t* count) const {
  Ref ref;
  HK_RETURN_IF_ERROR(Find(key, &ref));
  *count = 0;
  const flex::ReadResult s = reader_.AsIntVector(ref, out, capacity, count);
  HK_ENSURE(s != flex::ReadResult::kTooLong,
            Format("key '%s' has %zu elements; at most %zu are allowed", key,
                   *count, capacity));
  return ReportStatus(s, key, "a vector of int", ref);
}

Status OptionsMap::CheckContractVersion() const {
  int64_t version;
  HK_RETURN_IF_ERROR(Int("contract_version", &version));
  HK_ENSURE(version == kContractVersion,
            Format("unsupported contract_version %" PRId64
                   " (this library implements %d)",
                   version, kContractVersion));
  return Status();
}

Status OptionsMap::Seed(uint32_t* seed) const {
  int64_t value;
  HK_RETURN_IF_ERROR(Int("seed", &value));
  HK_ENSURE(value >= 0 && static_cast<uint64_t>(value) <= 0xFFFFFFFFu,
            Format("key 'seed' = %" PRId64 " is outside [0, 2^32)", value));
  *seed = static_cast<uint32_t>(value);
  return Status();
}

Status OptionsMap::Geometry(const char* conv_only, KernelGeometry* g) const {
  const char* layout;
  size_t layout_len;
  HK_RETURN_IF_ERROR(String("layout", &layout, &layout_len));
  const bool fc = layout_len == 2 && memcmp(layout, "fc", 2) == 0;
  const bool ohwi = layout_len == 4 && memcmp(layout, "ohwi", 4) == 0;
  if (conv_only != nullptr) {
    HK_ENSURE(ohwi, Format("key 'layout' must be 'ohwi' (%s feeds CONV_2D)",
                           conv_only));
  } else if (!fc && !ohwi) {
    std::string shown(layout, layout_len < 32 ? layout_len : 32);
    for (char& c : shown) {
      if (c < 0x20 || c > 0x7e) c = '?';
    }
    return Status::Error(Format(
        "key 'layout' = '%s' is not one of 'fc', 'ohwi'", shown.c_str()));
  }
  g->layout = fc ? Layout::kFc : Layout::kOhwi;
  g->kernel_rank = fc ? 2 : 4;
  const int rank = g->kernel_rank;

  constexpr size_t kCapacity = 8;  // read a few more dims, to report the rank
  int64_t read[kCapacity];
  size_t count = 0;
  Ref ref;
  HK_RETURN_IF_ERROR(Find("kernel_shape", &ref));
  const flex::ReadResult s = reader_.AsIntVector(ref, read, kCapacity, &count);
  const std::string needs = conv_only ? std::string(conv_only) + " needs"
                                      : Format("layout '%s' needs",
                                               LayoutName(g->layout));
  const bool read_all = s == flex::ReadResult::kOk;
  HK_ENSURE(s != flex::ReadResult::kTooLong &&
                (!read_all || count == static_cast<size_t>(rank)),
            Format("key 'kernel_shape' has %zu dims; %s %d", count,
                   needs.c_str(), rank));
  HK_RETURN_IF_ERROR(ReportStatus(s, "kernel_shape", "a vector of int", ref));
  uint64_t product = 1;
  for (int i = 0; i < rank; ++i) {
    HK_ENSURE(read[i] > 0, Format("key 'kernel_shape'[%d] = %" PRId64
                                  " must be positive", i, read[i]));
    // Checked before multiplying: product <= 2^32 and read[i] <= 2^32.
    HK_ENSURE(static_cast<uint64_t>(read[i]) <= kMaxVirtualSize &&
                  product <= kMaxVirtualSize / static_cast<uint64_t>(read[i]),
              "key 'kernel_shape': more than 2^32 weights (the hash "
              "contract's key space)");
    product *= static_cast<uint64_t>(read[i]);
  }
  for (int i = 0; i < rank; ++i) {
    HK_ENSURE(read[i] <= INT32_MAX,
              Format("key 'kernel_shape'[%d] = %" PRId64
                     " does not fit a tensor dimension", i, read[i]));
    g->kernel_shape[i] = read[i];
  }
  g->kernel_size = product;
  g->out = static_cast<uint64_t>(g->kernel_shape[rank - 1]);
  g->rows = product / g->out;
  return Status();
}

}  // namespace hk
