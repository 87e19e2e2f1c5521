package org.hashedkeras.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import android.graphics.Rect
import android.util.AttributeSet
import android.view.MotionEvent
import android.view.View
import kotlin.math.min

/**
 * A square canvas to draw a digit with a finger: white ink on black, the data
 * sets' convention. It can also show a bundled test image (scaled up without
 * smoothing); the next touch clears it.
 *
 * The drawing survives a rotation through the owner: [onChanged] hands out the
 * bitmap after every change, and [restore] takes it back in the new view.
 */
class DigitCanvasView @JvmOverloads constructor(
    context: Context,
    attrs: AttributeSet? = null,
) : View(context, attrs) {

    /** Called when a stroke ends (finger lifted). */
    var onStrokeFinished: (() -> Unit)? = null

    /** Called with the drawing's bitmap (null when cleared) and whether it shows a test image. */
    var onChanged: ((Bitmap?, Boolean) -> Unit)? = null

    // A drawing to restore once the view has a size.
    private var pending: Bitmap? = null

    private var bitmap: Bitmap? = null
    private var bitmapCanvas: Canvas? = null
    private var showingImage = false
    private var lastX = 0f
    private var lastY = 0f

    private val ink = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        color = Color.WHITE
        style = Paint.Style.STROKE
        strokeCap = Paint.Cap.ROUND
        strokeJoin = Paint.Join.ROUND
    }
    private val blit = Paint().apply { isFilterBitmap = false }

    /** Whether anything is drawn (or an image shown). */
    var isEmpty = true
        private set

    override fun onMeasure(widthMeasureSpec: Int, heightMeasureSpec: Int) {
        val w = MeasureSpec.getSize(widthMeasureSpec)
        val h = MeasureSpec.getSize(heightMeasureSpec)
        val side = if (MeasureSpec.getMode(heightMeasureSpec) == MeasureSpec.UNSPECIFIED) w else min(w, h)
        setMeasuredDimension(side, side)
    }

    override fun onSizeChanged(w: Int, h: Int, oldw: Int, oldh: Int) {
        if (w <= 0 || h <= 0) return
        val fresh = Bitmap.createBitmap(w, h, Bitmap.Config.ARGB_8888)
        val canvas = Canvas(fresh)
        canvas.drawColor(Color.BLACK)
        (bitmap ?: pending)?.let { old -> canvas.drawBitmap(old, null, Rect(0, 0, w, h), blit) }
        pending = null
        bitmap = fresh
        bitmapCanvas = canvas
        if (!isEmpty) onChanged?.invoke(fresh, showingImage)
        // Strokes about as thick, relative to the digit, as the data's.
        ink.strokeWidth = w / 11f
    }

    override fun onDraw(canvas: Canvas) {
        bitmap?.let { canvas.drawBitmap(it, 0f, 0f, null) }
    }

    override fun onTouchEvent(event: MotionEvent): Boolean {
        val canvas = bitmapCanvas ?: return false
        when (event.actionMasked) {
            MotionEvent.ACTION_DOWN -> {
                parent?.requestDisallowInterceptTouchEvent(true)  // no scrolling while drawing
                if (showingImage) clear()
                lastX = event.x
                lastY = event.y
                canvas.drawPoint(lastX, lastY, ink)
                isEmpty = false
            }
            MotionEvent.ACTION_MOVE -> {
                for (i in 0 until event.historySize) {
                    lineTo(canvas, event.getHistoricalX(i), event.getHistoricalY(i))
                }
                lineTo(canvas, event.x, event.y)
            }
            MotionEvent.ACTION_UP -> {
                lineTo(canvas, event.x, event.y)
                parent?.requestDisallowInterceptTouchEvent(false)
                onChanged?.invoke(bitmap, false)
                performClick()
                onStrokeFinished?.invoke()
            }
            MotionEvent.ACTION_CANCEL -> parent?.requestDisallowInterceptTouchEvent(false)
            else -> return false
        }
        invalidate()
        return true
    }

    override fun performClick(): Boolean = super.performClick()

    private fun lineTo(canvas: Canvas, x: Float, y: Float) {
        canvas.drawLine(lastX, lastY, x, y, ink)
        lastX = x
        lastY = y
    }

    fun clear() {
        bitmapCanvas?.drawColor(Color.BLACK)
        showingImage = false
        isEmpty = true
        pending = null
        onChanged?.invoke(null, false)
        invalidate()
    }

    /** Shows a drawing kept from an earlier view (null: nothing), scaled to this one. */
    fun restore(drawing: Bitmap?, isImage: Boolean) {
        if (drawing == null) return
        showingImage = isImage
        isEmpty = false
        val canvas = bitmapCanvas
        if (canvas == null) {
            pending = drawing
        } else {
            canvas.drawBitmap(drawing, null, Rect(0, 0, width, height), blit)
            invalidate()
        }
    }

    /** Shows `image` scaled to the canvas without smoothing; the next touch clears it. */
    fun showImage(image: Bitmap) {
        val canvas = bitmapCanvas ?: return
        canvas.drawColor(Color.BLACK)
        canvas.drawBitmap(image, null, Rect(0, 0, width, height), blit)
        showingImage = true
        isEmpty = false
        onChanged?.invoke(bitmap, true)
        invalidate()
    }

    /** The drawing's pixels (ARGB), with its width and height; null before layout. */
    fun pixels(): Triple<IntArray, Int, Int>? {
        val b = bitmap ?: return null
        val out = IntArray(b.width * b.height)
        b.getPixels(out, 0, b.width, 0, 0, b.width, b.height)
        return Triple(out, b.width, b.height)
    }
}
