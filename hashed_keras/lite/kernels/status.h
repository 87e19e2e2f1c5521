// The result of a check or parse: OK, or an error with the message the user
// sees (TFLite's TfLiteStatus plus its ReportError text, in one value), and
// the macros the kernels validate with (as TF_LITE_ENSURE does in TFLite's
// builtin kernels).
#ifndef HASHED_KERAS_LITE_KERNELS_STATUS_H_
#define HASHED_KERAS_LITE_KERNELS_STATUS_H_

#include <stdarg.h>
#include <stdio.h>

#include <string>
#include <utility>

namespace hk {

class Status {
 public:
  Status() = default;  // OK
  static Status Error(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }

 private:
  bool ok_ = true;
  std::string message_;
};

// printf-style formatting into a std::string (messages; at most 511
// characters).
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
inline std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  return n < 0 ? std::string("(message formatting failed)") : buffer;
}

}  // namespace hk

// Returns the status of `expr` from the enclosing function if it is an error.
#define HK_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::hk::Status hk_status_ = (expr);             \
    if (!hk_status_.ok()) return hk_status_;      \
  } while (0)

// Returns an error with `message` (built only on failure) unless `cond`.
#define HK_ENSURE(cond, message)                          \
  do {                                                    \
    if (!(cond)) return ::hk::Status::Error(message);     \
  } while (0)

#endif  // HASHED_KERAS_LITE_KERNELS_STATUS_H_
