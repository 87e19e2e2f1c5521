// Runs a .tflite through LiteRT's C API (CompiledModel, CPU), with the
// hashed_keras kernels attached as a LiteRT accelerator whose delegate is the
// kernel library's own tflite_plugin_create_delegate().
//
// This is the route the host test uses (libLiteRt.so of the ai-edge-litert
// wheel) and the app's on-device cross-check (when the LiteRT AAR packages
// libLiteRt.so). The app's main route is the Java Interpreter API with the
// same delegate passed to Interpreter.Options.addDelegate (hk_jni.cc).
#ifndef HK_ANDROID_DEMO_LITERT_RUNNER_H_
#define HK_ANDROID_DEMO_LITERT_RUNNER_H_

#include <stddef.h>

#include <memory>
#include <string>
#include <vector>

namespace hkdemo {

class LiteRtRunner {
 public:
  // Loads `runtime_library` (a path, or a bare soname such as "libLiteRt.so")
  // once per process, then builds a CompiledModel of `model_path`. With
  // `with_kernels`, the hashed_keras delegate is registered as an accelerator
  // of the runner's environment (every model with HashedWeights /
  // FreshWeights / SMHWeights operators needs it; a dense model runs without
  // it). Returns null with a message in `error` on failure.
  static std::unique_ptr<LiteRtRunner> Open(const std::string& runtime_library,
                                            const std::string& model_path,
                                            bool with_kernels,
                                            std::string* error);
  ~LiteRtRunner();
  LiteRtRunner(const LiteRtRunner&) = delete;
  LiteRtRunner& operator=(const LiteRtRunner&) = delete;

  // Shapes of input 0 and output 0 (a dynamic batch dimension is run as 1).
  const std::vector<int>& input_shape() const { return input_shape_; }
  const std::vector<int>& output_shape() const { return output_shape_; }
  size_t input_size() const { return input_count_; }
  size_t output_size() const { return output_count_; }

  // One inference: `input` has input_size() floats, `output` receives
  // output_size() floats.
  bool Run(const float* input, float* output, std::string* error);

 private:
  struct State;
  explicit LiteRtRunner(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::vector<int> input_shape_;
  std::vector<int> output_shape_;
  size_t input_count_ = 0;
  size_t output_count_ = 0;
};

// Delegates created through this bridge (createDelegate and the runner's
// accelerator) and not yet destroyed: 0 once everything is closed.
int LiveDelegates();
void NoteDelegateCreated();
void NoteDelegateDestroyed();

}  // namespace hkdemo

#endif  // HK_ANDROID_DEMO_LITERT_RUNNER_H_
