// Reading a custom operator's options (a FlexBuffers map) with messages that
// name the key and the problem: the one place every operator parses its keys,
// the kernel's layout and shape included.
#ifndef HASHED_KERAS_LITE_KERNELS_OPTIONS_H_
#define HASHED_KERAS_LITE_KERNELS_OPTIONS_H_

#include <stddef.h>
#include <stdint.h>

#include "flexbuffers_reader.h"
#include "status.h"

namespace hk {

// Key 'layout': how the rebuilt weights feed their consumer.
enum class Layout {
  kFc,    // FULLY_CONNECTED's filter [O, I] of a Keras [I, O] kernel
  kOhwi,  // CONV_2D's filter [O, H, W, I] of a Keras [H, W, I, O] kernel
};
const char* LayoutName(Layout layout);  // "fc", "ohwi"

// The kernel a weights operator rebuilds (keys 'layout' and 'kernel_shape'),
// the part every operator's plan shares.
struct KernelGeometry {
  Layout layout = Layout::kFc;
  int kernel_rank = 0;                     // 2 (fc) or 4 (ohwi)
  int64_t kernel_shape[4] = {0, 0, 0, 0};  // Keras layout
  uint64_t out = 0;          // O: the last Keras dimension
  uint64_t rows = 0;         // R: product of the other dimensions
  uint64_t kernel_size = 0;  // R * O

  // The TFLite shape of the weights output ([O, I] or [O, H, W, I]).
  int64_t OutputDim(int i) const {
    return i == 0 ? kernel_shape[kernel_rank - 1] : kernel_shape[i - 1];
  }
};

class OptionsMap {
 public:
  OptionsMap(const uint8_t* options, size_t length)
      : reader_(options, length), present_(options != nullptr && length > 0) {}

  // Validates the buffer as a FlexBuffers map.
  Status Init();

  // Each getter: "missing key 'k'" / "key 'k' must be ..." etc.
  Status Int(const char* key, int64_t* out) const;
  Status Bool(const char* key, bool* out) const;
  Status String(const char* key, const char** str, size_t* len) const;
  // At most `capacity` ints; more is an error naming the count.
  Status IntVector(const char* key, int64_t* out, size_t capacity,
                   size_t* count) const;

  // `contract_version` == the library's (checked first: a future version may
  // change every other key).
  Status CheckContractVersion() const;
  // `seed` in [0, 2^32).
  Status Seed(uint32_t* seed) const;
  // `layout` ('fc' or 'ohwi'; only 'ohwi' if `conv_only` names the operator,
  // which then feeds CONV_2D) and `kernel_shape`: exactly the layout's rank
  // of positive dims, each fitting an int32 tensor dimension, whose product
  // is at most 2^32 (the hash contract's key space).
  Status Geometry(const char* conv_only, KernelGeometry* geometry) const;

 private:
  Status Find(const char* key, flex::Ref* ref) const;

  flex::Reader reader_;
  flex::Map map_;
  bool present_;
};

}  // namespace hk

#endif  // HASHED_KERAS_LITE_KERNELS_OPTIONS_H_
