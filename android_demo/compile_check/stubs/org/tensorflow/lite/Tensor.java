// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures copied from LiteRT tag v1.4.1
// (github.com/google-ai-edge/LiteRT, commit 7f1d217c77017e45e8696ff2d992b4f7b7025560),
// tflite/java/src/main/java/org/tensorflow/lite/Tensor.java (litert-api:1.4.1).
// Only the members the app calls.
package org.tensorflow.lite;

public interface Tensor {
  int numElements();

  int[] shape();
}
