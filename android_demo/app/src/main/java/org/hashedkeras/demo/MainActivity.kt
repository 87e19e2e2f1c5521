package org.hashedkeras.demo

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.os.Bundle
import android.widget.Button
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import org.json.JSONObject
import java.io.File
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Draw a digit (or pick a bundled test image); the compressed model and its
 * dense twin classify it side by side: label, confidence, latency, file size.
 *
 * All inference runs on one worker thread; the UI thread only draws.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var canvas: DigitCanvasView
    private lateinit var classifyButton: Button
    private lateinit var subtitle: TextView
    private lateinit var inputPreview: ImageView
    private lateinit var inputCaption: TextView
    private lateinit var hashedResult: TextView
    private lateinit var denseResult: TextView
    private lateinit var crossCheckText: TextView

    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var manifest: DemoManifest? = null

    // Owned by the worker thread.
    private var hashed: TfliteClassifier? = null
    private var dense: TfliteClassifier? = null
    private var crossCheck: CompiledModelCheck? = null
    private var crossCheckStatus: String = ""

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        canvas = findViewById(R.id.canvas)
        classifyButton = findViewById(R.id.classify)
        subtitle = findViewById(R.id.subtitle)
        inputPreview = findViewById(R.id.input_preview)
        inputCaption = findViewById(R.id.input_caption)
        hashedResult = findViewById(R.id.hashed_result)
        denseResult = findViewById(R.id.dense_result)
        crossCheckText = findViewById(R.id.cross_check)

        findViewById<Button>(R.id.clear).setOnClickListener {
            canvas.clear()
            inputPreview.setImageDrawable(null)
            inputCaption.setText(R.string.input_caption_empty)
        }
        classifyButton.setOnClickListener { classifyDrawing() }
        canvas.onStrokeFinished = { classifyDrawing() }

        val m = try {
            DemoManifest(JSONObject(assets.open("manifest.json").bufferedReader().use { it.readText() }))
        } catch (e: Exception) {
            subtitle.text = "Cannot read assets/manifest.json (run android_demo/make_assets.py): $e"
            return
        }
        manifest = m
        subtitle.text = "${m.title}: ${m.description}"
        showThumbnails(m)
        worker.execute { loadModels(m) }
    }

    override fun onDestroy() {
        super.onDestroy()
        worker.execute {
            crossCheck?.close()
            hashed?.close()
            dense?.close()
        }
        worker.shutdown()
    }

    // ---------------------------------------------------------------- worker

    private fun loadModels(m: DemoManifest) {
        val hashedBytes = assets.open(m.hashed.file).use { it.readBytes() }
        val denseBytes = assets.open(m.dense.file).use { it.readBytes() }
        val errors = mutableListOf<String>()
        hashed = try {
            TfliteClassifier("hashed", hashedBytes, withKernels = m.hashed.needsKernels)
        } catch (e: Exception) {
            errors += "hashed: ${e.message}"; null
        }
        dense = try {
            TfliteClassifier("dense", denseBytes, withKernels = m.dense.needsKernels)
        } catch (e: Exception) {
            errors += "dense: ${e.message}"; null
        }
        // The CompiledModel route needs a file path.
        val copy = File(filesDir, m.hashed.file)
        copy.writeBytes(hashedBytes)
        crossCheck = CompiledModelCheck.open(copy).fold(
            onSuccess = { crossCheckStatus = "LiteRT CompiledModel (C API) + same delegate: ready"; it },
            onFailure = {
                crossCheckStatus = "LiteRT CompiledModel (C API) cross-check unavailable: ${it.message}"
                null
            },
        )
        runOnUiThread {
            classifyButton.isEnabled = hashed != null && dense != null
            hashedResult.text = describeModel("hashed", hashed, m.hashed)
            denseResult.text = describeModel("dense", dense, m.dense)
            crossCheckText.text = crossCheckStatus
            if (errors.isNotEmpty()) subtitle.text = "Could not load: " + errors.joinToString("; ")
        }
    }

    private fun classify(x: FloatArray, caption: String) {
        val h = hashed ?: return
        val d = dense ?: return
        val rh = h.classify(x)
        val rd = d.classify(x)
        val agreement = Preprocess.maxAbsDiff(rh.probabilities, rd.probabilities)
        val crossLine = crossCheck?.let {
            runCatching { it.run(x) }.fold(
                onSuccess = { p ->
                    "CompiledModel (C API): ${manifest?.label(Preprocess.argmax(p))}, " +
                        "max |Δp| vs Interpreter ${fmt("%.1e", Preprocess.maxAbsDiff(p, rh.probabilities))}"
                },
                onFailure = { e -> "CompiledModel (C API) failed: ${e.message}" },
            )
        } ?: crossCheckStatus
        runOnUiThread {
            val previewPixels = Preprocess.toArgb(x)
            val m = manifest ?: return@runOnUiThread
            val small = Bitmap.createBitmap(previewPixels, m.width, m.height, Bitmap.Config.ARGB_8888)
            inputPreview.setImageBitmap(Bitmap.createScaledBitmap(small, m.width * 8, m.height * 8, false))
            inputCaption.text = "$caption\nhashed vs dense: max |Δp| = ${fmt("%.1e", agreement)}"
            hashedResult.text = describeResult("hashed", h, rh, m.hashed)
            denseResult.text = describeResult("dense", d, rd, m.dense)
            crossCheckText.text = crossLine
        }
    }

    // -------------------------------------------------------------------- UI

    private fun classifyDrawing() {
        val m = manifest ?: return
        if (canvas.isEmpty) return
        val (pixels, w, h) = canvas.pixels() ?: return
        worker.execute {
            val x = m.preprocess.fromDrawing(pixels, w, h)
            classify(x, "your drawing, ${w}×$h px → ${m.width}×${m.height}")
        }
    }

    private fun showThumbnails(m: DemoManifest) {
        val row = findViewById<LinearLayout>(R.id.thumbnails)
        val size = (48 * resources.displayMetrics.density).toInt()
        for (image in m.testImages) {
            val options = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }
            val bitmap = assets.open(image.file).use { BitmapFactory.decodeStream(it, null, options) } ?: continue
            val view = ImageView(this).apply {
                setImageBitmap(Bitmap.createScaledBitmap(bitmap, size, size, false))
                contentDescription = "test image, label ${m.label(image.label)}"
                setPadding(4, 4, 4, 4)
                setOnClickListener { pickTestImage(m, image, bitmap) }
            }
            row.addView(view, LinearLayout.LayoutParams(size + 8, size + 8))
        }
    }

    private fun pickTestImage(m: DemoManifest, image: DemoManifest.TestImage, bitmap: Bitmap) {
        canvas.showImage(bitmap)
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        worker.execute {
            val x = m.preprocess.fromImage(pixels, bitmap.width, bitmap.height)
            classify(x, "${image.file} (label ${m.label(image.label)})")
        }
    }

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
    ): String = buildString {
        appendLine(title.uppercase(Locale.ROOT))
        appendLine("label ${manifest?.label(r.best)}")
        appendLine("conf  ${fmt("%.1f", 100 * r.confidence)} %")
        appendLine("time  ${fmt("%.3f", r.latencyMillis)} ms")
        appendLine("init  ${fmt("%.2f", c.initMillis)} ms")
        append("file  ${kb(file.bytes)}")
    }

    private fun kb(bytes: Long) = fmt("%.1f", bytes / 1024.0) + " KB"

    private fun fmt(pattern: String, value: Number) = String.format(Locale.ROOT, pattern, value)
}
