package org.hashedkeras.demo

import android.graphics.Bitmap
import android.os.Bundle
import android.view.View
import android.widget.Button
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.ViewModelProvider

/**
 * Draw a digit (or pick a bundled test image); the compressed model and its
 * dense twin classify it side by side: label, per-class confidence, latency,
 * file size and the size ratio.
 *
 * The activity only draws: models, results and the drawing live in
 * [DemoViewModel], so a rotation neither reloads the models nor loses the
 * drawing. Every failure (native library, assets, verification, interpreter)
 * is shown in the status line.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var model: DemoViewModel
    private lateinit var canvas: DigitCanvasView
    private lateinit var classifyButton: Button
    private lateinit var subtitle: TextView
    private lateinit var sizeRatio: TextView
    private lateinit var inputPreview: ImageView
    private lateinit var inputCaption: TextView
    private lateinit var hashedResult: TextView
    private lateinit var denseResult: TextView
    private lateinit var status: TextView
    private var thumbnailsShown = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        model = ViewModelProvider(this).get(DemoViewModel::class.java)
        canvas = findViewById(R.id.canvas)
        classifyButton = findViewById(R.id.classify)
        subtitle = findViewById(R.id.subtitle)
        sizeRatio = findViewById(R.id.size_ratio)
        inputPreview = findViewById(R.id.input_preview)
        inputCaption = findViewById(R.id.input_caption)
        hashedResult = findViewById(R.id.hashed_result)
        denseResult = findViewById(R.id.dense_result)
        status = findViewById(R.id.status)

        // The drawing from before a rotation (the canvas scales it to its new size).
        canvas.restore(model.drawing, model.drawingIsImage)
        canvas.onChanged = { bitmap, isImage ->
            model.drawing = bitmap
            model.drawingIsImage = isImage
        }
        findViewById<Button>(R.id.clear).setOnClickListener {
            canvas.clear()
            model.clearInput()
        }
        classifyButton.setOnClickListener { classifyDrawing() }
        canvas.onStrokeFinished = { classifyDrawing() }

        model.listener = { render(it) }
        render(model.state)
        model.start(assets)
    }

    override fun onDestroy() {
        model.listener = null
        canvas.onChanged = null
        super.onDestroy()
    }

    private fun render(s: DemoState) {
        subtitle.text = s.subtitle
        sizeRatio.text = s.sizeLine
        hashedResult.text = s.hashedText
        denseResult.text = s.denseText
        status.text = s.status
        status.visibility = if (s.status.isEmpty()) View.GONE else View.VISIBLE
        classifyButton.isEnabled = s.canClassify
        inputCaption.text = s.caption.ifEmpty { getString(R.string.input_caption_empty) }
        val preview = s.preview
        try {
            if (preview != null && s.previewWidth > 0 && s.previewHeight > 0 &&
                preview.size == s.previewWidth * s.previewHeight
            ) {
                val small = Bitmap.createBitmap(preview, s.previewWidth, s.previewHeight, Bitmap.Config.ARGB_8888)
                inputPreview.setImageBitmap(
                    Bitmap.createScaledBitmap(small, s.previewWidth * 8, s.previewHeight * 8, false),
                )
            } else {
                inputPreview.setImageDrawable(null)
            }
            if (!thumbnailsShown && model.testImages.isNotEmpty()) showThumbnails()
        } catch (e: RuntimeException) {  // a bitmap the device cannot make: say so, keep running
            status.text = (s.status + "\ncannot show images: ${e.message}").trim()
            status.visibility = View.VISIBLE
        }
    }

    private fun classifyDrawing() {
        if (canvas.isEmpty) return
        val (pixels, w, h) = canvas.pixels() ?: return
        model.classifyDrawing(pixels, w, h)
    }

    private fun showThumbnails() {
        thumbnailsShown = true
        val m = model.manifest ?: return
        val row = findViewById<LinearLayout>(R.id.thumbnails)
        val size = (48 * resources.displayMetrics.density).toInt()
        for (image in model.testImages) {
            val view = ImageView(this).apply {
                setImageBitmap(Bitmap.createScaledBitmap(image.bitmap, size, size, false))
                contentDescription = "test image, label ${m.label(image.label)}"
                setPadding(4, 4, 4, 4)
                setOnClickListener {
                    canvas.showImage(image.bitmap)
                    model.classifyTestImage(image)
                }
            }
            row.addView(view, LinearLayout.LayoutParams(size + 8, size + 8))
        }
    }
}
