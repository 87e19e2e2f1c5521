#include "flexbuffers_reader.h"

#include <string.h>

#include <string>

namespace hk {
namespace flex {
namespace {

bool ValidWidth(uint64_t width) {
  return width == 1 || width == 2 || width == 4 || width == 8;
}

// pos + n <= size, without overflow.
bool InBounds(size_t pos, uint64_t n, size_t size) {
  return pos <= size && n <= size - pos;
}

}  // namespace

const char* TypeName(uint8_t type) {
  switch (type) {
    case kNull: return "null";
    case kInt: return "int";
    case kUInt: return "uint";
    case kFloat: return "float";
    case kKey: return "key";
    case kString: return "string";
    case kIndirectInt: return "indirect int";
    case kIndirectUInt: return "indirect uint";
    case kIndirectFloat: return "indirect float";
    case kMap: return "map";
    case kVector: return "vector";
    case kVectorInt: return "vector of int";
    case kVectorUInt: return "vector of uint";
    case kVectorFloat: return "vector of float";
    case kVectorKey: return "vector of key";
    case kVectorStringDeprecated: return "vector of string";
    case kVectorInt2: case kVectorInt3: case kVectorInt4:
      return "fixed vector of int";
    case kVectorUInt2: case kVectorUInt3: case kVectorUInt4:
      return "fixed vector of uint";
    case kVectorFloat2: case kVectorFloat3: case kVectorFloat4:
      return "fixed vector of float";
    case kBlob: return "blob";
    case kBool: return "bool";
    case kVectorBool: return "vector of bool";
    default: return "unknown type";
  }
}

bool Reader::ReadUInt(size_t pos, uint8_t width, uint64_t* out) const {
  if (!ValidWidth(width) || !InBounds(pos, width, size_)) return false;
  uint64_t v = 0;
  for (uint8_t i = 0; i < width; ++i) {
    v |= static_cast<uint64_t>(data_[pos + i]) << (8 * i);
  }
  *out = v;
  return true;
}

bool Reader::ReadInt(size_t pos, uint8_t width, int64_t* out) const {
  uint64_t u;
  if (!ReadUInt(pos, width, &u)) return false;
  if (width < 8) {
    const uint64_t sign_bit = uint64_t{1} << (8 * width - 1);
    if (u & sign_bit) u |= ~((sign_bit << 1) - 1);  // sign-extend
  }
  int64_t v;
  memcpy(&v, &u, sizeof(v));
  *out = v;
  return true;
}

Status Reader::Root(Ref* root) const {
  HK_ENSURE(data_ != nullptr && size_ >= 3,
            "buffer too short for a FlexBuffers root (" +
                std::to_string(size_) + " bytes)");
  const uint8_t width = data_[size_ - 1];
  HK_ENSURE(ValidWidth(width),
            "invalid FlexBuffers root width " + std::to_string(width));
  HK_ENSURE(size_ - 2 >= width, "buffer too short for its FlexBuffers root");
  root->pos = size_ - 2 - width;
  root->parent_width = width;
  root->packed_type = data_[size_ - 2];
  return Status();
}

bool Reader::Deref(const Ref& ref, size_t* target) const {
  uint64_t offset;
  if (!ReadUInt(ref.pos, ref.parent_width, &offset)) return false;
  if (offset > ref.pos) return false;
  *target = ref.pos - static_cast<size_t>(offset);
  return true;
}

ReadResult Reader::AsInt64(const Ref& ref, int64_t* out) const {
  const uint8_t type = ref.type();
  size_t pos = ref.pos;
  uint8_t width = ref.parent_width;
  if (type == kIndirectInt || type == kIndirectUInt) {
    if (!Deref(ref, &pos)) return ReadResult::kCorrupt;
    width = ref.child_width();
  } else if (type != kInt && type != kUInt) {
    return ReadResult::kWrongType;
  }
  if (type == kInt || type == kIndirectInt) {
    if (!ReadInt(pos, width, out)) return ReadResult::kCorrupt;
    return ReadResult::kOk;
  }
  uint64_t u;
  if (!ReadUInt(pos, width, &u)) return ReadResult::kCorrupt;
  if (u > static_cast<uint64_t>(INT64_MAX)) return ReadResult::kOutOfRange;
  *out = static_cast<int64_t>(u);
  return ReadResult::kOk;
}

ReadResult Reader::AsBool(const Ref& ref, bool* out) const {
  if (ref.type() != kBool) return ReadResult::kWrongType;
  uint64_t u;
  if (!ReadUInt(ref.pos, ref.parent_width, &u)) return ReadResult::kCorrupt;
  *out = u != 0;
  return ReadResult::kOk;
}

ReadResult Reader::AsString(const Ref& ref, const char** str,
                            size_t* len) const {
  if (ref.type() != kString) return ReadResult::kWrongType;
  size_t target;
  if (!Deref(ref, &target)) return ReadResult::kCorrupt;
  const uint8_t width = ref.child_width();
  if (target < width) return ReadResult::kCorrupt;
  uint64_t n;
  if (!ReadUInt(target - width, width, &n)) return ReadResult::kCorrupt;
  // The bytes and their NUL terminator must be inside the buffer.
  if (n >= size_ || !InBounds(target, n + 1, size_)) {
    return ReadResult::kCorrupt;
  }
  *str = reinterpret_cast<const char*>(data_ + target);
  *len = static_cast<size_t>(n);
  return ReadResult::kOk;
}

ReadResult Reader::AsIntVector(const Ref& ref, int64_t* out, size_t capacity,
                           size_t* count) const {
  const uint8_t type = ref.type();
  bool is_signed = false;
  bool untyped = false;
  uint64_t fixed = 0;  // element count of a fixed-length typed vector
  switch (type) {
    case kVector: untyped = true; break;
    case kVectorInt: is_signed = true; break;
    case kVectorUInt: break;
    case kVectorInt2: is_signed = true; fixed = 2; break;
    case kVectorInt3: is_signed = true; fixed = 3; break;
    case kVectorInt4: is_signed = true; fixed = 4; break;
    case kVectorUInt2: fixed = 2; break;
    case kVectorUInt3: fixed = 3; break;
    case kVectorUInt4: fixed = 4; break;
    default: return ReadResult::kWrongType;
  }
  size_t target;
  if (!Deref(ref, &target)) return ReadResult::kCorrupt;
  const uint8_t width = ref.child_width();
  uint64_t n = fixed;
  if (fixed == 0) {
    if (target < width) return ReadResult::kCorrupt;
    if (!ReadUInt(target - width, width, &n)) return ReadResult::kCorrupt;
  }
  // Each element takes at least one byte: bound n before multiplying.
  if (n > size_) return ReadResult::kCorrupt;
  const uint64_t element_bytes = n * width;
  if (!InBounds(target, element_bytes + (untyped ? n : 0), size_)) {
    return ReadResult::kCorrupt;
  }
  *count = static_cast<size_t>(n);
  if (n > capacity) return ReadResult::kTooLong;
  for (size_t i = 0; i < n; ++i) {
    const size_t pos = target + i * width;
    if (untyped) {
      Ref element;
      element.pos = pos;
      element.parent_width = width;
      element.packed_type = data_[target + element_bytes + i];
      const ReadResult s = AsInt64(element, &out[i]);
      if (s != ReadResult::kOk) return s;
    } else if (is_signed) {
      if (!ReadInt(pos, width, &out[i])) return ReadResult::kCorrupt;
    } else {
      uint64_t u;
      if (!ReadUInt(pos, width, &u)) return ReadResult::kCorrupt;
      if (u > static_cast<uint64_t>(INT64_MAX)) return ReadResult::kOutOfRange;
      out[i] = static_cast<int64_t>(u);
    }
  }
  return ReadResult::kOk;
}

Status Map::Init(const Reader& reader, const Ref& ref) {
  reader_ = &reader;
  HK_ENSURE(ref.type() == kMap, std::string("the root is a ") +
                                    TypeName(ref.type()) + ", not a map");
  size_t target;
  HK_ENSURE(reader.Deref(ref, &target),
            "the map's offset points outside the buffer");
  const uint8_t width = ref.child_width();
  HK_ENSURE(target >= 3u * width, "the map's header starts before the buffer");
  uint64_t n, keys_offset, key_width;
  HK_ENSURE(reader.ReadUInt(target - width, width, &n) &&
                reader.ReadUInt(target - 2u * width, width, &key_width) &&
                reader.ReadUInt(target - 3u * width, width, &keys_offset),
            "the map's header is outside the buffer");
  const size_t size = reader.size();
  HK_ENSURE(n <= size && InBounds(target, n * width + n, size),
            "the map's " + std::to_string(n) +
                " values do not fit in the buffer");
  HK_ENSURE(ValidWidth(key_width),
            "invalid map key width " + std::to_string(key_width));
  const size_t keys_slot = target - 3u * width;
  HK_ENSURE(keys_offset <= keys_slot,
            "the map's keys offset points outside the buffer");
  const size_t keys = keys_slot - static_cast<size_t>(keys_offset);
  uint64_t key_count;
  HK_ENSURE(keys >= key_width &&
                reader.ReadUInt(keys - key_width,
                                static_cast<uint8_t>(key_width), &key_count),
            "the map's keys vector is outside the buffer");
  HK_ENSURE(key_count == n, "the map has " + std::to_string(n) +
                                " values but " + std::to_string(key_count) +
                                " keys");
  HK_ENSURE(InBounds(keys, n * key_width, size),
            "the map's keys do not fit in the buffer");
  values_ = target;
  width_ = width;
  types_ = target + static_cast<size_t>(n) * width;
  keys_ = keys;
  key_width_ = static_cast<uint8_t>(key_width);
  size_ = static_cast<size_t>(n);
  return Status();
}

bool Map::Find(const char* key, Ref* value) const {
  if (reader_ == nullptr) return false;
  const uint8_t* data = reader_->data();
  const size_t size = reader_->size();
  const size_t key_len = strlen(key);
  for (size_t i = 0; i < size_; ++i) {
    Ref slot;
    slot.pos = keys_ + i * key_width_;
    slot.parent_width = key_width_;
    size_t key_pos;
    if (!reader_->Deref(slot, &key_pos)) continue;
    // The key must be NUL-terminated inside the buffer.
    if (key_pos >= size || size - key_pos < key_len + 1) continue;
    if (memcmp(data + key_pos, key, key_len) != 0 ||
        data[key_pos + key_len] != 0) {
      continue;
    }
    value->pos = values_ + i * width_;
    value->parent_width = width_;
    value->packed_type = data[types_ + i];
    return true;
  }
  return false;
}

}  // namespace flex
}  // namespace hk
