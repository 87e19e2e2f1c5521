// Reading a custom operator's options (a FlexBuffers map) with messages that
// name the key and the problem: the one place every operator parses its keys.
#ifndef HASHED_KERAS_LITE_KERNELS_OPTIONS_H_
#define HASHED_KERAS_LITE_KERNELS_OPTIONS_H_

#include <stddef.h>
#include <stdint.h>

#include <string>

#include "flexbuffers_reader.h"

namespace hk {

// printf-style formatting into a std::string (messages).
std::string Format(const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

class OptionsMap {
 public:
  OptionsMap(const uint8_t* options, size_t length)
      : reader_(options, length), present_(options != nullptr && length > 0) {}

  // Validates the buffer as a FlexBuffers map.
  bool Init(std::string* error);

  // Each getter: false with "missing key 'k'" / "key 'k' must be ..." etc.
  bool Int(const char* key, int64_t* out, std::string* error) const;
  bool Bool(const char* key, bool* out, std::string* error) const;
  bool String(const char* key, const char** str, size_t* len,
              std::string* error) const;
  // At most `capacity` ints; more is an error naming the count.
  bool IntVector(const char* key, int64_t* out, size_t capacity,
                 size_t* count, std::string* error) const;

  // `contract_version` == the library's (checked first: a future version may
  // change every other key).
  bool CheckContractVersion(std::string* error) const;
  // `seed` in [0, 2^32).
  bool Seed(uint32_t* seed, std::string* error) const;
  // `kernel_shape`: exactly `rank` positive dims (`why_rank` completes the
  // message "has N dims; <why_rank> <rank>"), each fitting an int32 tensor
  // dimension, whose product (returned in `size`) is at most 2^32 (the hash
  // contract's key space).
  bool KernelShape(int rank, const char* why_rank, int64_t* dims,
                   uint64_t* size, std::string* error) const;

 private:
  bool Find(const char* key, flex::Ref* ref, std::string* error) const;

  flex::Reader reader_;
  flex::Map map_;
  bool present_;
};

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_OPTIONS_H_
