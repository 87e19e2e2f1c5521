package org.hashedkeras.demo;

import java.nio.ByteBuffer;

/**
 * The native layer of the demo: libhk_jni.so (app/src/main/cpp), one library
 * holding the hashed_keras kernels and this JNI bridge.
 *
 * <p>Plain Java without Android dependencies on purpose: the host test
 * (android_demo/host_test) compiles this very file with javac and loads the
 * same library built for the host.
 *
 * <p>Loading never throws: if the library cannot be loaded (wrong ABI, a
 * missing file, a SecurityException), {@link #loadError()} says why and every
 * native method throws UnsatisfiedLinkError when called. Callers check
 * {@link #loadError()} first and show it.
 */
public final class HkNative {
  /** The library's name for System.loadLibrary (file libhk_jni.so). */
  public static final String LIBRARY = "hk_jni";

  private static final String LOAD_ERROR;

  static {
    String error = null;
    try {
      System.loadLibrary(LIBRARY);
    } catch (Throwable t) {  // UnsatisfiedLinkError, SecurityException, ...
      error = "cannot load lib" + LIBRARY + ".so: " + t;
    }
    LOAD_ERROR = error;
  }

  private HkNative() {}

  /** Null if the native library is loaded, else the reason it is not. */
  public static String loadError() {
    return LOAD_ERROR;
  }

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
   * @param maxVirtualWeights cap on the weights the delegate rebuilds, all
   *     operators together (plugin option max_virtual_weights); 0 = default
   * @param maxRebuildBytes cap on the bytes it allocates for them (plugin
   *     option max_rebuild_bytes); 0 = default
   * @param verbose log the ABI the delegate measures
   * @throws IllegalArgumentException if a cap is negative
   * @throws IllegalStateException with the plugin's one-line reason if it
   *     refuses the options
   */
  public static long createDelegate(long maxVirtualWeights, long maxRebuildBytes,
                                    boolean verbose) {
    return createDelegate(maxVirtualWeights, maxRebuildBytes, verbose, false);
  }

  /**
   * Like {@link #createDelegate(long, long, boolean)}, choosing the execution
   * mode (plugin option weights): {@code onTheFly} computes the
   * FULLY_CONNECTED and CONV_2D layers straight from the shared variables at
   * every run, holding no rebuilt weights (small in memory, slower); false
   * rebuilds every weight tensor once, when the Interpreter is created
   * (fast).
   */
  public static long createDelegate(long maxVirtualWeights, long maxRebuildBytes,
                                    boolean verbose, boolean onTheFly) {
    return nativeCreateDelegate(maxVirtualWeights, maxRebuildBytes, verbose, onTheFly);
  }

  /** Destroys a delegate made by {@link #createDelegate}; 0 is ignored. */
  public static native void destroyDelegate(long handle);

  /** Delegates made by {@link #createDelegate} and not yet destroyed. */
  public static native int liveDelegates();

  /**
   * Verifies a .tflite model (hk_verify_model) before an interpreter sees it,
   * with the kernels' default limits.
   *
   * @param model the model's bytes from {@code position()} to {@code limit()},
   *     in a direct ByteBuffer
   * @return null if the model is well formed, else one line: what is wrong,
   *     where, and what to do
   */
  public static String verifyModel(ByteBuffer model) {
    return verifyModel(model, 0, 0);
  }

  /**
   * Like {@link #verifyModel(ByteBuffer)}, with the same caps as the
   * delegate's (0 = the default).
   */
  public static String verifyModel(ByteBuffer model, long maxVirtualWeights,
                                   long maxRebuildBytes) {
    if (model == null) return "the model buffer is null";
    return nativeVerifyModel(model, model.position(), model.remaining(),
                             maxVirtualWeights, maxRebuildBytes);
  }

  private static native long nativeCreateDelegate(long maxVirtualWeights,
                                                  long maxRebuildBytes, boolean verbose,
                                                  boolean onTheFly);

  private static native String nativeVerifyModel(ByteBuffer model, int offset, int length,
                                                 long maxVirtualWeights, long maxRebuildBytes);
}
