package org.hashedkeras.demo

import org.tensorflow.lite.Delegate

/**
 * The hashed_keras kernels as a LiteRT / TensorFlow Lite delegate.
 *
 * The native handle is the kernels' own `tflite_plugin_create_delegate()`
 * (through the JNI bridge, [HkNative.createDelegate]); the Interpreter applies
 * it when it is built, before its default XNNPACK delegate. The delegate claims
 * the `HashedWeights` / `FreshWeights` / `SMHWeights` operators and rebuilds
 * their weights once, at that moment.
 *
 * Close it only after every Interpreter built with it is closed.
 */
class HashedKerasDelegate(verbose: Boolean = false) : Delegate {
    private var handle: Long = HkNative.createDelegate(verbose)

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
