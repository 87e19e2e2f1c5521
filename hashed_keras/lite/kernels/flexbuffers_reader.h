// A small, bounds-checked reader for the FlexBuffers maps that carry custom
// operator options. It supports exactly what the options need: a root map with
// string keys whose values are ints (inline or indirect, signed or unsigned),
// bools, strings, and typed / fixed-typed / untyped vectors of ints; every
// width 1, 2, 4 and 8. Every offset read from the buffer is validated against
// the buffer before use, so any byte string is safe to feed it (it is a fuzz
// target). Little-endian encoding is decoded byte by byte (host-independent).
#ifndef HASHED_KERAS_LITE_KERNELS_FLEXBUFFERS_READER_H_
#define HASHED_KERAS_LITE_KERNELS_FLEXBUFFERS_READER_H_

#include <stddef.h>
#include <stdint.h>

#include "status.h"

namespace hk {
namespace flex {

// FlexBuffers value types (the values of the format, not of any header).
enum Type : uint8_t {
  kNull = 0,
  kInt = 1,
  kUInt = 2,
  kFloat = 3,
  kKey = 4,
  kString = 5,
  kIndirectInt = 6,
  kIndirectUInt = 7,
  kIndirectFloat = 8,
  kMap = 9,
  kVector = 10,
  kVectorInt = 11,
  kVectorUInt = 12,
  kVectorFloat = 13,
  kVectorKey = 14,
  kVectorStringDeprecated = 15,
  kVectorInt2 = 16,
  kVectorUInt2 = 17,
  kVectorFloat2 = 18,
  kVectorInt3 = 19,
  kVectorUInt3 = 20,
  kVectorFloat3 = 21,
  kVectorInt4 = 22,
  kVectorUInt4 = 23,
  kVectorFloat4 = 24,
  kBlob = 25,
  kBool = 26,
  kVectorBool = 36,
};

// A human-readable name of a type ("int", "string", ...), for messages.
const char* TypeName(uint8_t type);

// A value inside the buffer: where its slot is, how wide the slot is (the
// parent's width), and its packed type byte (type << 2 | log2(child width)).
struct Ref {
  size_t pos = 0;
  uint8_t parent_width = 1;
  uint8_t packed_type = 0;
  uint8_t type() const { return static_cast<uint8_t>(packed_type >> 2); }
  uint8_t child_width() const {
    return static_cast<uint8_t>(1u << (packed_type & 3u));
  }
};

// The result of a typed read.
enum class ReadResult {
  kOk = 0,
  kWrongType,   // the value exists but is not of the requested type
  kOutOfRange,  // e.g. an unsigned value that does not fit int64
  kCorrupt,     // an offset or size points outside the buffer
  kTooLong,     // a vector longer than the caller's capacity
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // The root value; an error if the trailer is invalid.
  Status Root(Ref* root) const;

  // An unsigned little-endian integer of `width` (1/2/4/8) bytes at `pos`.
  bool ReadUInt(size_t pos, uint8_t width, uint64_t* out) const;
  bool ReadInt(size_t pos, uint8_t width, int64_t* out) const;

  // Integer (int, uint, indirect int/uint). Bools are *not* integers here.
  ReadResult AsInt64(const Ref& ref, int64_t* out) const;
  ReadResult AsBool(const Ref& ref, bool* out) const;
  // A string's bytes (not necessarily NUL-free); points into the buffer.
  ReadResult AsString(const Ref& ref, const char** str, size_t* len) const;
  // A vector of integers (typed, fixed-typed or untyped with int elements).
  // Fails with kTooLong if it has more than `capacity` elements (*count is
  // then still set to its length).
  ReadResult AsIntVector(const Ref& ref, int64_t* out, size_t capacity,
                     size_t* count) const;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Where an offset-typed value's slot points (slot position minus offset).
  bool Deref(const Ref& ref, size_t* target) const;

 private:
  const uint8_t* data_;
  size_t size_;
};

// A validated view of a map: its keys and values vectors are in bounds.
class Map {
 public:
  // Validates `ref` as a map; an error says why it is not one.
  Status Init(const Reader& reader, const Ref& ref);

  size_t size() const { return size_; }
  // Finds `key`; false if absent (or its key string is corrupt).
  bool Find(const char* key, Ref* value) const;

 private:
  const Reader* reader_ = nullptr;
  size_t values_ = 0;      // first value slot
  uint8_t width_ = 1;      // value slot width
  size_t types_ = 0;       // first packed-type byte
  size_t keys_ = 0;        // first key slot
  uint8_t key_width_ = 1;  // key slot width
  size_t size_ = 0;
};

}  // namespace flex
}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_FLEXBUFFERS_READER_H_
