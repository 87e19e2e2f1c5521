package org.hashedkeras.demo

import android.content.res.AssetManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.os.Handler
import android.os.Looper
import androidx.lifecycle.ViewModel
import org.json.JSONObject
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors
import java.util.concurrent.RejectedExecutionException

/** What the screen shows; immutable, replaced as a whole. */
data class DemoState(
    val subtitle: String = "Loading the models…",
    /** e.g. "hashed.tflite is 6.8x smaller than dense.tflite (43.3 KB vs 295.7 KB)". */
    val sizeLine: String = "",
    val hashedText: String = "HASHED",
    val denseText: String = "DENSE",
    /** Errors and notes, one per line; empty when all is well. */
    val status: String = "",
    val caption: String = "",
    /** The model's input as ARGB pixels (width x height), or null. */
    val preview: IntArray? = null,
    val previewWidth: Int = 0,
    val previewHeight: Int = 0,
    val canClassify: Boolean = false,
)

/**
 * Everything that must survive a rotation: the manifest, both models in their
 * interpreters, the test images, the drawing and the last results. All native,
 * asset and interpreter calls run on one worker thread and are guarded: a
 * failure becomes a line of [DemoState.status], never a crash.
 */
class DemoViewModel : ViewModel() {
    companion object {
        /** Caps on what one model may make the delegate rebuild (and the verifier accept). */
        const val MAX_VIRTUAL_WEIGHTS = 16L shl 20  // 16 Mi weights
        const val MAX_REBUILD_BYTES = 128L shl 20   // 128 MiB
    }

    class TestImage(val file: String, val label: Int, val bitmap: Bitmap)

    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())

    @Volatile
    var state = DemoState()
        private set

    /** Called on the main thread with every new state; set by the activity. */
    var listener: ((DemoState) -> Unit)? = null

    /** The drawing (or shown test image), kept across rotation by the canvas. */
    var drawing: Bitmap? = null
    var drawingIsImage = false

    @Volatile
    var manifest: DemoManifest? = null
        private set

    @Volatile
    var testImages: List<TestImage> = emptyList()
        private set

    private var started = false

    // Problems found while loading (shown until the app restarts).
    @Volatile
    private var loadProblems = ""

    // Owned by the worker thread.
    private var hashed: TfliteClassifier? = null
    private var dense: TfliteClassifier? = null

    /** Loads the manifest, test images and both models once (later calls do nothing). */
    fun start(assets: AssetManager) {
        if (started) return
        started = true
        submit { load(assets) }
    }

    /** Classifies a drawing (ARGB pixels of the canvas). */
    fun classifyDrawing(pixels: IntArray, width: Int, height: Int) {
        submit {
            val m = manifest ?: return@submit
            val x = m.preprocess.fromDrawing(pixels, width, height)
            classify(x, "your drawing, ${width}×$height px → ${m.width}×${m.height}")
        }
    }

    /** Classifies a bundled test image. */
    fun classifyTestImage(image: TestImage) {
        submit {
            val m = manifest ?: return@submit
            val b = image.bitmap
            val pixels = IntArray(b.width * b.height)
            b.getPixels(pixels, 0, b.width, 0, 0, b.width, b.height)
            val x = m.preprocess.fromImage(pixels, b.width, b.height)
            classify(x, "${image.file} (label ${m.label(image.label)})")
        }
    }

    fun clearInput() {
        drawing = null
        drawingIsImage = false
        update { it.copy(caption = "", preview = null) }
    }

    override fun onCleared() {
        listener = null
        try {
            worker.execute {
                hashed?.close()
                dense?.close()
                hashed = null
                dense = null
            }
        } catch (e: RejectedExecutionException) {
            // already shut down
        }
        worker.shutdown()
    }

    // ---------------------------------------------------------------- worker

    private fun submit(task: () -> Unit) {
        try {
            worker.execute {
                try {
                    task()
                } catch (t: Throwable) {  // incl. UnsatisfiedLinkError, OutOfMemoryError
                    report("error: ${describe(t)}")
                }
            }
        } catch (e: RejectedExecutionException) {
            // the ViewModel is cleared
        }
    }

    private fun load(assets: AssetManager) {
        val m = try {
            DemoManifest(JSONObject(assets.open("manifest.json").bufferedReader().use { it.readText() }))
        } catch (e: Exception) {
            update {
                it.copy(subtitle = "Cannot read assets/manifest.json (run android_demo/make_assets.py)",
                    status = describe(e))
            }
            return
        }
        manifest = m
        val ratio = if (m.hashed.bytes > 0) m.dense.bytes.toDouble() / m.hashed.bytes else Double.NaN
        update {
            it.copy(
                subtitle = "${m.title}: ${m.description}",
                sizeLine = "${m.hashed.file} is ${fmt("%.1f", ratio)}x smaller than ${m.dense.file} " +
                    "(${kb(m.hashed.bytes)} vs ${kb(m.dense.bytes)})",
                hashedText = describeModel("hashed", null, m.hashed),
                denseText = describeModel("dense", null, m.dense),
            )
        }

        val errors = mutableListOf<String>()
        val images = mutableListOf<TestImage>()
        for (image in m.testImages) {
            try {
                val options = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }
                val bitmap = assets.open(image.file).use { BitmapFactory.decodeStream(it, null, options) }
                if (bitmap == null) errors += "${image.file}: not a decodable image" else
                    images += TestImage(image.file, image.label, bitmap)
            } catch (e: Exception) {
                errors += "${image.file}: ${describe(e)}"
            }
        }
        testImages = images

        HkNative.loadError()?.let { errors += it }
        hashed = open(assets, "hashed", m.hashed, errors)
        dense = open(assets, "dense", m.dense, errors)
        loadProblems = errors.joinToString("\n")
        update {
            it.copy(
                hashedText = describeModel("hashed", hashed, m.hashed),
                denseText = describeModel("dense", dense, m.dense),
                status = loadProblems,
                canClassify = hashed != null && dense != null,
            )
        }
    }

    /** Reads, verifies and opens one model; null (and a line in `errors`) on any failure. */
    private fun open(
        assets: AssetManager,
        title: String,
        file: DemoManifest.ModelFile,
        errors: MutableList<String>,
    ): TfliteClassifier? {
        if (HkNative.loadError() != null) {
            // Without libhk_jni.so a model cannot be verified: do not load it.
            errors += "$title: not loaded (${file.file} cannot be verified without the native library)"
            return null
        }
        return try {
            val bytes = assets.open(file.file).use { it.readBytes() }
            val buffer = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder())
            buffer.put(bytes)
            buffer.rewind()
            // The verifier sees the bytes before any interpreter does.
            val problem = HkNative.verifyModel(buffer, MAX_VIRTUAL_WEIGHTS, MAX_REBUILD_BYTES)
            if (problem != null) {
                errors += "$title: ${file.file} rejected: $problem"
                null
            } else {
                TfliteClassifier(title, buffer, withKernels = file.needsKernels,
                    maxVirtualWeights = MAX_VIRTUAL_WEIGHTS, maxRebuildBytes = MAX_REBUILD_BYTES)
            }
        } catch (t: Throwable) {  // IOException, IllegalStateException, UnsatisfiedLinkError, ...
            errors += "$title: ${file.file}: ${describe(t)}"
            null
        }
    }

    private fun classify(x: FloatArray, caption: String) {
        val m = manifest ?: return
        val h = hashed
        val d = dense
        if (h == null || d == null) {
            report("the models are not loaded")
            return
        }
        val rh = try {
            h.classify(x)
        } catch (e: Exception) {
            report("hashed: inference failed: ${describe(e)}"); return
        }
        val rd = try {
            d.classify(x)
        } catch (e: Exception) {
            report("dense: inference failed: ${describe(e)}"); return
        }
        val agreement = Preprocess.maxAbsDiff(rh.probabilities, rd.probabilities)
        update {
            it.copy(
                caption = "$caption\nhashed vs dense: max |Δp| = ${fmt("%.1e", agreement)}",
                preview = Preprocess.toArgb(x),
                previewWidth = m.width,
                previewHeight = m.height,
                hashedText = describeResult("hashed", h, rh, m.hashed, m),
                denseText = describeResult("dense", d, rd, m.dense, m),
                status = loadProblems,
            )
        }
    }

    private fun report(line: String) =
        update { it.copy(status = if (loadProblems.isEmpty()) line else "$loadProblems\n$line") }

    private fun update(change: (DemoState) -> DemoState) {
        synchronized(this) { state = change(state) }
        val s = state
        main.post { listener?.invoke(s) }
    }

    // ------------------------------------------------------------ formatting

    private fun describeModel(title: String, c: TfliteClassifier?, file: DemoManifest.ModelFile): String =
        buildString {
            appendLine(title.uppercase(Locale.ROOT))
            appendLine("file  ${kb(file.bytes)}")
            if (c != null) appendLine("init  ${fmt("%.2f", c.initMillis)} ms")
            if (!file.testAccuracy.isNaN()) append("test acc ${fmt("%.1f", 100 * file.testAccuracy)} %")
        }

    private fun describeResult(
        title: String,
        c: TfliteClassifier,
        r: Classification,
        file: DemoManifest.ModelFile,
        m: DemoManifest,
    ): String = buildString {
        appendLine(title.uppercase(Locale.ROOT))
        appendLine("label ${m.label(r.best)}")
        appendLine("conf  ${fmt("%.1f", 100 * r.confidence)} %")
        appendLine("time  ${fmt("%.3f", r.latencyMillis)} ms")
        appendLine("init  ${fmt("%.2f", c.initMillis)} ms")
        appendLine("file  ${kb(file.bytes)}")
        // Per-class confidence, one row per class: label, percent, a bar.
        for (i in r.probabilities.indices) {
            val p = r.probabilities[i]
            val bar = "█".repeat((p * 10 + 0.5f).toInt().coerceIn(0, 10))
            append(String.format(Locale.ROOT, "%-3s %5.1f %s", m.label(i).take(3), 100 * p, bar))
            if (i + 1 < r.probabilities.size) appendLine()
        }
    }

    private fun kb(bytes: Long) = fmt("%.1f", bytes / 1024.0) + " KB"

    private fun fmt(pattern: String, value: Number) = String.format(Locale.ROOT, pattern, value)

    private fun describe(t: Throwable): String =
        (t.message?.lineSequence()?.firstOrNull()?.takeIf { it.isNotBlank() } ?: t.javaClass.simpleName)
}
