package org.hashedkeras.demo

import android.os.SystemClock
import org.tensorflow.lite.Interpreter
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** One classification: probabilities, the winner, and the median latency of repeated runs. */
class Classification(
    val probabilities: FloatArray,
    val latencyMillis: Double,
    val runs: Int,
) {
    val best: Int = Preprocess.argmax(probabilities)
    val confidence: Float = probabilities[best]
}

/**
 * A .tflite in an Interpreter (LiteRT's Java API), optionally with the
 * hashed_keras delegate.
 *
 * Not thread-safe: use it from one thread (MainActivity's worker).
 */
class TfliteClassifier(
    val name: String,
    model: ByteArray,
    withKernels: Boolean,
    numThreads: Int = 1,
) : Closeable {
    /** The file's size in bytes. */
    val fileBytes: Int = model.size

    /** Interpreter construction and tensor allocation, including the weight rebuild. */
    val initMillis: Double

    val inputShape: IntArray
    val outputSize: Int

    // The Interpreter reads the model from this buffer for its whole life.
    private val modelBuffer: ByteBuffer =
        ByteBuffer.allocateDirect(model.size).order(ByteOrder.nativeOrder()).apply {
            put(model)
            rewind()
        }
    private val delegate: HashedKerasDelegate? = if (withKernels) HashedKerasDelegate() else null
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer

    init {
        val start = SystemClock.elapsedRealtimeNanos()
        val options = Interpreter.Options().setNumThreads(numThreads)
        delegate?.let { options.addDelegate(it) }
        interpreter = try {
            Interpreter(modelBuffer, options).also { it.allocateTensors() }
        } catch (e: RuntimeException) {
            delegate?.close()
            throw e
        }
        initMillis = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
        inputShape = interpreter.getInputTensor(0).shape()
        outputSize = interpreter.getOutputTensor(0).numElements()
        input = ByteBuffer.allocateDirect(4 * inputShape.fold(1) { a, b -> a * b })
            .order(ByteOrder.nativeOrder())
        output = ByteBuffer.allocateDirect(4 * outputSize).order(ByteOrder.nativeOrder())
    }

    /** Classifies `x` (the input tensor's values), timing `runs` invocations after one warm-up. */
    fun classify(x: FloatArray, runs: Int = 21): Classification {
        require(x.size * 4 == input.capacity()) {
            "$name expects ${input.capacity() / 4} values, got ${x.size}"
        }
        input.rewind()
        input.asFloatBuffer().put(x)
        val times = DoubleArray(runs)
        runOnce()  // warm-up
        for (i in 0 until runs) {
            val t0 = SystemClock.elapsedRealtimeNanos()
            runOnce()
            times[i] = (SystemClock.elapsedRealtimeNanos() - t0) / 1e6
        }
        times.sort()
        val probabilities = FloatArray(outputSize)
        output.rewind()
        output.asFloatBuffer().get(probabilities)
        return Classification(probabilities, times[runs / 2], runs)
    }

    private fun runOnce() {
        input.rewind()
        output.rewind()
        interpreter.run(input, output)
    }

    override fun close() {
        interpreter.close()
        delegate?.close()  // after the interpreter
    }
}
