// libFuzzer target: whole .tflite files through hk_verify_model (the
// verifier must answer every input with a known code and a one-line message,
// never read outside the input, never crash). The first byte picks tight or
// default limits, so the limit checks are fuzzed too.
// Build: cmake -DHK_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...; seed corpus:
// tests/verify_samples (real converted files).
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "hk_kernels.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so ASan catches any read past the end.
  std::vector<uint8_t> file(data, data + size);
  HkLimits limits{sizeof(HkLimits), 0, 0, 0};
  if (size > 0 && (data[0] & 1)) {
    limits.max_virtual_weights = 1u << 12;
    limits.max_rebuild_bytes = 1u << 16;
    limits.max_tensor_bytes = 1u << 16;
  }
  char error[256];
  const int code = hk_verify_model(file.empty() ? nullptr : file.data(),
                                   file.size(), &limits, error, sizeof(error));
  const bool known =
      code == HK_OK || (code >= HK_VERIFY_SCHEMA && code <= HK_VERIFY_LIMIT);
  const size_t length = strnlen(error, sizeof(error));
  if (!known || length == sizeof(error) || (code == HK_OK) != (length == 0) ||
      memchr(error, '\n', length) != nullptr) {
    __builtin_trap();
  }
  return 0;
}
