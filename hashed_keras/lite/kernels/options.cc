#include "options.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

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

}  // namespace

bool OptionsMap::Init(std::string* error) {
  if (!present_) {
    *error = "no custom options (expected a FlexBuffers map)";
    return false;
  }
  Ref root;
  std::string why;
  if (!reader_.Root(&root, &why) || !map_.Init(reader_, root, &why)) {
    *error = "custom options are not a valid FlexBuffers map: " + why;
    return false;
  }
  return true;
}

bool OptionsMap::Find(const char* key, Ref* ref, std::string* error) const {
  if (map_.Find(key, ref)) return true;
  *error = Format("missing key '%s'", key);
  return false;
}

bool OptionsMap::Int(const char* key, int64_t* out, std::string* error) const {
  Ref ref;
  if (!Find(key, &ref, error)) return false;
  return ReportStatus(reader_.AsInt64(ref, out), key, "an int", ref, error);
}

bool OptionsMap::Bool(const char* key, bool* out, std::string* error) const {
  Ref ref;
  if (!Find(key, &ref, error)) return false;
  return ReportStatus(reader_.AsBool(ref, out), key, "a bool", ref, error);
}

bool OptionsMap::String(const char* key, const char** str, size_t* len,
                        std::string* error) const {
  Ref ref;
  if (!Find(key, &ref, error)) return false;
  return ReportStatus(reader_.AsString(ref, str, len), key, "a string", ref,
                      error);
}

bool OptionsMap::IntVector(const char* key, int64_t* out, size_t capacity,
                           size_t* count, std::string* error) const {
  Ref ref;
  if (!Find(key, &ref, error)) return false;
  *count = 0;
  const Status s = reader_.AsIntVector(ref, out, capacity, count);
  if (s == Status::kTooLong) {
    *error = Format("key '%s' has %zu elements; at most %zu are allowed", key,
                    *count, capacity);
    return false;
  }
  return ReportStatus(s, key, "a vector of int", ref, error);
}

bool OptionsMap::CheckContractVersion(std::string* error) const {
  int64_t version;
  if (!Int("contract_version", &version, error)) return false;
  if (version != kContractVersion) {
    *error = Format("unsupported contract_version %" PRId64
                    " (this library implements %d)",
                    version, kContractVersion);
    return false;
  }
  return true;
}

bool OptionsMap::Seed(uint32_t* seed, std::string* error) const {
  int64_t value;
  if (!Int("seed", &value, error)) return false;
  if (value < 0 || static_cast<uint64_t>(value) > 0xFFFFFFFFu) {
    *error = Format("key 'seed' = %" PRId64 " is outside [0, 2^32)", value);
    return false;
  }
  *seed = static_cast<uint32_t>(value);
  return true;
}

bool OptionsMap::KernelShape(int rank, const char* why_rank, int64_t* dims,
                             uint64_t* size, std::string* error) const {
  constexpr size_t kCapacity = 8;  // read a few more dims, to report the rank
  int64_t read[kCapacity];
  size_t count = 0;
  Ref ref;
  if (!Find("kernel_shape", &ref, error)) return false;
  const Status s = reader_.AsIntVector(ref, read, kCapacity, &count);
  if (s == Status::kTooLong ||
      (s == Status::kOk && count != static_cast<size_t>(rank))) {
    *error = Format("key 'kernel_shape' has %zu dims; %s %d", count, why_rank,
                    rank);
    return false;
  }
  if (!ReportStatus(s, "kernel_shape", "a vector of int", ref, error)) {
    return false;
  }
  uint64_t product = 1;
  for (int i = 0; i < rank; ++i) {
    if (read[i] <= 0) {
      *error = Format("key 'kernel_shape'[%d] = %" PRId64 " must be positive",
                      i, read[i]);
      return false;
    }
    // Checked before multiplying: product <= 2^32 and read[i] <= 2^32.
    if (static_cast<uint64_t>(read[i]) > kMaxVirtualSize ||
        product > kMaxVirtualSize / static_cast<uint64_t>(read[i])) {
      *error = "key 'kernel_shape': more than 2^32 weights (the hash "
               "contract's key space)";
      return false;
    }
    product *= static_cast<uint64_t>(read[i]);
  }
  for (int i = 0; i < rank; ++i) {
    if (read[i] > INT32_MAX) {
      *error = Format("key 'kernel_shape'[%d] = %" PRId64
                      " does not fit a tensor dimension", i, read[i]);
      return false;
    }
    dims[i] = read[i];
  }
  *size = product;
  return true;
}

}  // namespace hk
