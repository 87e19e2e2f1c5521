package org.hashedkeras.demo;

/**
 * The native layer of the demo (libhk_jni.so, app/src/main/cpp/hk_jni.cc) and
 * the hashed_keras kernels it links (libhashed_keras_kernels.so).
 *
 * <p>Plain Java without Android dependencies on purpose: the host test
 * (android_demo/host_test) compiles this very file with javac and loads the
 * same native sources built for the host.
 */
public final class HkNative {
  static {
    // The kernels first: libhk_jni.so needs them (DT_NEEDED), and loading them
    // explicitly works on every Android version and on the host.
    System.loadLibrary("hashed_keras_kernels");
    System.loadLibrary("hk_jni");
  }

  private HkNative() {}

  /** The kernel library's version, e.g. "0.1.0". */
  public static native String kernelsVersion();

  /** xxHash32 of the key's 4 little-endian bytes (the hash contract). */
  public static native int xxh32(int key, int seed);

  /**
   * Creates the kernels' delegate (tflite_plugin_create_delegate): a
   * TfLiteDelegate* for org.tensorflow.lite.Delegate.getNativeHandle().
   * Destroy it with {@link #destroyDelegate} after every interpreter that uses
   * it is closed.
   *
   * @param verbose log the ABI the delegate measures (stderr)
   * @throws IllegalStateException if the plugin refuses
   */
  public static native long createDelegate(boolean verbose);

  /** Destroys a delegate made by {@link #createDelegate}; 0 is ignored. */
  public static native void destroyDelegate(long handle);

  /** Delegates made through this bridge (both routes) not yet destroyed. */
  public static native int liveDelegates();

  /**
   * Opens a LiteRT CompiledModel (C API, CPU) of {@code modelPath} with the
   * runtime library {@code runtimeLibrary} (a path, or "libLiteRt.so" to find
   * it in the app's native libraries). With {@code withKernels} the same
   * delegate as {@link #createDelegate} is attached, as a LiteRT accelerator.
   *
   * @return a handle for {@link #litertRun}; close it with {@link #litertClose}
   * @throws IllegalStateException with the runtime's reason on failure
   */
  public static native long litertOpen(String runtimeLibrary, String modelPath,
                                       boolean withKernels);

  /** Shape of input 0 (a dynamic batch is run as 1). */
  public static native int[] litertInputShape(long handle);

  /** Shape of output 0. */
  public static native int[] litertOutputShape(long handle);

  /** One inference; {@code input} has the input shape's element count. */
  public static native float[] litertRun(long handle, float[] input);

  /** Closes a runner (and frees its delegate); 0 is ignored. */
  public static native void litertClose(long handle);
}
