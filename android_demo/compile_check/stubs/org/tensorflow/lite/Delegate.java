// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures copied from LiteRT tag v1.4.1
// (github.com/google-ai-edge/LiteRT, commit 7f1d217c77017e45e8696ff2d992b4f7b7025560),
// tflite/java/src/main/java/org/tensorflow/lite/Delegate.java -- shipped in
// com.google.ai.edge.litert:litert-api:1.4.1, a dependency of litert:1.4.1
// (ci/build_android_package.sh). Complete interface.
package org.tensorflow.lite;

import java.io.Closeable;

public interface Delegate extends Closeable {
  long getNativeHandle();

  @Override
  default void close() {}
}
