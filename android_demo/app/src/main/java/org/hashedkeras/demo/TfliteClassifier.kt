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
 * A verified .tflite in an Interpreter (LiteRT 1.4.1's Java API), optionally
 * with the hashed_keras delegate.
 *
 * Not thread-safe: use it from one thread (DemoViewModel's worker).
 *
 * @param name shown in messages
 * @param model the model in a direct ByteBuffer that stays untouched for the
 *     classifier's life (the Interpreter reads it in place); it must have
 *     passed [HkNative.verifyModel]
 * @param withKernels attach a [HashedKerasDelegate]
 * @param maxVirtualWeights the delegate's cap (0 = default)
 * @param maxRebuildBytes the delegate's cap (0 = default)
 * @param onTheFly the delegate's execution mode ([HashedKerasDelegate])
 * @throws IllegalStateException or IllegalArgumentException (from the
 *     delegate or the Interpreter) with the runtime's reason
 */
class TfliteClassifier(
    val name: String,
    model: ByteBuffer,
    withKernels: Boolean,
    maxVirtualWeights: Long = 0,
    maxRebuildBytes: Long = 0,
    numThreads: Int = 1,
    onTheFly: Boolean = false,
) : Closeable {
    /** The file's size in bytes. */
    val fileBytes: Int = model.capacity()

    /** Interpreter construction and tensor allocation, including the weight rebuild. */
    val initMillis: Double

    val inputShape: IntArray
    val outputSize: Int

    private val modelBuffer: ByteBuffer = model
    private val delegate: HashedKerasDelegate?
    private val interpreter: Interpreter
    private val input: ByteBuffer
    private val output: ByteBuffer

    init {
        val start = SystemClock.elapsedRealtimeNanos()
        delegate = if (withKernels) HashedKerasDelegate(maxVirtualWeights, maxRebuildBytes, onTheFly = onTheFly) else null
        interpreter = try {
            val options = Interpreter.Options().setNumThreads(numThreads)
            delegate?.let { options.addDelegate(it) }
            Interpreter(modelBuffer, options).also { it.allocateTensors() }
        } catch (t: Throwable) {  // incl. UnsatisfiedLinkError from LiteRT's own library
            delegate?.close()
            throw t
        }
        try {
            initMillis = (SystemClock.elapsedRealtimeNanos() - start) / 1e6
            inputShape = interpreter.getInputTensor(0).shape()
            outputSize = interpreter.getOutputTensor(0).numElements()
            val inputCount = inputShape.fold(1) { a, b -> a * b }
            require(inputCount > 0 && outputSize > 0) {
                "$name: expected non-empty input and output, got ${inputShape.contentToString()} -> $outputSize"
            }
            input = ByteBuffer.allocateDirect(4 * inputCount).order(ByteOrder.nativeOrder())
            output = ByteBuffer.allocateDirect(4 * outputSize).order(ByteOrder.nativeOrder())
        } catch (t: Throwable) {
            interpreter.close()
            delegate?.close()
            throw t
        }
    }

    /** Classifies `x` (the input tensor's values), timing `runs` invocations after one warm-up. */
    fun classify(x: FloatArray, runs: Int = 21): Classification {
        require(x.size * 4 == input.capacity()) {
            "$name expects ${input.capacity() / 4} values, got ${x.size}"
        }
        require(runs >= 1) { "runs must be >= 1, got $runs" }
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
