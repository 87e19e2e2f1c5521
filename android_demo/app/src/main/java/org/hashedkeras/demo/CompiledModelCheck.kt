package org.hashedkeras.demo

import java.io.Closeable
import java.io.File

/**
 * The hashed model through LiteRT's C API (CompiledModel) with the same
 * delegate attached as a LiteRT accelerator: the route the host test runs on a
 * workstation (android_demo/host_test), repeated on the device as a
 * cross-check of the Interpreter's result.
 *
 * Available when the LiteRT runtime library (libLiteRt.so) is packaged in the
 * APK; [open] fails with the reason otherwise.
 */
class CompiledModelCheck private constructor(private var handle: Long) : Closeable {
    companion object {
        const val RUNTIME_LIBRARY = "libLiteRt.so"

        fun open(model: File): Result<CompiledModelCheck> = runCatching {
            CompiledModelCheck(HkNative.litertOpen(RUNTIME_LIBRARY, model.path, true))
        }
    }

    fun run(x: FloatArray): FloatArray {
        check(handle != 0L) { "closed" }
        return HkNative.litertRun(handle, x)
    }

    override fun close() {
        HkNative.litertClose(handle)
        handle = 0L
    }
}
