// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures copied from LiteRT tag v1.4.1
// (github.com/google-ai-edge/LiteRT, commit 7f1d217c77017e45e8696ff2d992b4f7b7025560),
// tflite/java/src/main/java/org/tensorflow/lite/Interpreter.java
// (litert-api:1.4.1). Only the members the app calls; the real Options
// overrides every setter to return Interpreter.Options, as here.
package org.tensorflow.lite;

import java.nio.ByteBuffer;

public final class Interpreter extends InterpreterImpl implements InterpreterApi {
  public static class Options extends InterpreterImpl.Options {
    public Options() {
      throw new RuntimeException("Stub!");
    }

    @Override
    public Options setNumThreads(int numThreads) {
      throw new RuntimeException("Stub!");
    }

    @Override
    public Options addDelegate(Delegate delegate) {
      throw new RuntimeException("Stub!");
    }
  }

  public Interpreter(ByteBuffer byteBuffer, Options options) {
    throw new RuntimeException("Stub!");
  }
}
