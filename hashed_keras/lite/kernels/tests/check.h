// The test drivers' CHECK: counts checks, prints each failure (file, line,
// condition and a printf-style message) and goes on; Summary() prints the
// totals and gives main's return value.
#ifndef HASHED_KERAS_LITE_KERNELS_TESTS_CHECK_H_
#define HASHED_KERAS_LITE_KERNELS_TESTS_CHECK_H_

#include <stdio.h>

namespace hk_test {

inline int g_failures = 0;
inline int g_checks = 0;

inline int Summary() {
  printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures == 0 ? 0 : 1;
}

}  // namespace hk_test

#define CHECK(cond, ...)                                              \
  do {                                                                \
    ++hk_test::g_checks;                                              \
    if (!(cond)) {                                                    \
      ++hk_test::g_failures;                                          \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fprintf(stderr, "\n");                                          \
    }                                                                 \
  } while (0)

#endif  // HASHED_KERAS_LITE_KERNELS_TESTS_CHECK_H_
