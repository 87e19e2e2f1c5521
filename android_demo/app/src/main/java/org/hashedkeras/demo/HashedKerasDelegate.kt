package org.hashedkeras.demo

import org.tensorflow.lite.Delegate

/**
 * The hashed_keras kernels as a LiteRT delegate (LiteRT 1.4.1's public Java
 * API: `org.tensorflow.lite.Delegate`, attached with
 * `Interpreter.Options.addDelegate`).
 *
 * The native handle is the kernels' own `tflite_plugin_create_delegate()`,
 * created through the JNI bridge ([HkNative.createDelegate]) in libhk_jni.so --
 * the library the host test loads as a delegate plugin. The Interpreter
 * applies it when it is built, before its default XNNPACK delegate; it claims
 * the `HashedWeights` / `FreshWeights` / `SMHWeights` operators and rebuilds
 * their weights once, at that moment.
 *
 * Close it only after every Interpreter built with it is closed.
 *
 * @param maxVirtualWeights cap on the weights it may rebuild (0 = default)
 * @param maxRebuildBytes cap on the bytes it may allocate for them (0 = default)
 * @param onTheFly compute the dense and convolution layers from the shared variables
 *     at every run, holding no rebuilt weights (delegate option weights =
 *     on_the_fly); false: rebuild the weights once (faster)
 * @throws IllegalStateException if the native library is not loaded or the
 *     plugin refuses the caps
 */
class HashedKerasDelegate(
    maxVirtualWeights: Long = 0,
    maxRebuildBytes: Long = 0,
    verbose: Boolean = false,
    onTheFly: Boolean = false,
) : Delegate {
    private var handle: Long = run {
        HkNative.loadError()?.let { throw IllegalStateException(it) }
        HkNative.createDelegate(maxVirtualWeights, maxRebuildBytes, verbose, onTheFly)
    }

    override fun getNativeHandle(): Long {
        check(handle != 0L) { "the hashed_keras delegate is closed" }
        return handle
    }

    override fun close() {
        if (handle != 0L) {
            HkNative.destroyDelegate(handle)
            handle = 0L
        }
    }
}
