// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures copied from LiteRT tag v1.4.1
// (github.com/google-ai-edge/LiteRT, commit 7f1d217c77017e45e8696ff2d992b4f7b7025560),
// tflite/java/src/main/java/org/tensorflow/lite/InterpreterImpl.java
// (litert-api:1.4.1): package-private, the superclass of Interpreter. Only the
// members the app calls (through Interpreter).
package org.tensorflow.lite;

class InterpreterImpl implements InterpreterApi {
  static class Options extends InterpreterApi.Options {
    public Options() {
      throw new RuntimeException("Stub!");
    }
  }

  @Override
  public void run(Object input, Object output) {
    throw new RuntimeException("Stub!");
  }

  @Override
  public void allocateTensors() {
    throw new RuntimeException("Stub!");
  }

  @Override
  public Tensor getInputTensor(int inputIndex) {
    throw new RuntimeException("Stub!");
  }

  @Override
  public Tensor getOutputTensor(int outputIndex) {
    throw new RuntimeException("Stub!");
  }

  @Override
  public void close() {
    throw new RuntimeException("Stub!");
  }
}
