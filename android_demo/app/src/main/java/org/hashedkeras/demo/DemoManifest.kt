package org.hashedkeras.demo

import org.json.JSONObject

/** assets/manifest.json, written by android_demo/make_assets.py. */
class DemoManifest(json: JSONObject) {
    class ModelFile(val file: String, val bytes: Long, val needsKernels: Boolean, val testAccuracy: Double)
    class TestImage(val file: String, val label: Int)

    val title: String = json.optString("title", "hashed_keras demo")
    val description: String = json.getJSONObject("model").optString("how", "")
    val labels: List<String>
    val height: Int
    val width: Int
    val preprocess: Preprocess
    val hashed: ModelFile
    val dense: ModelFile
    val testImages: List<TestImage>

    init {
        require(json.getInt("format") == 1) { "unknown manifest format ${json.getInt("format")}" }
        val labelArray = json.getJSONArray("labels")
        labels = List(labelArray.length()) { labelArray.getString(it) }
        val shape = json.getJSONObject("input").getJSONArray("shape")
        require(shape.length() == 4 && shape.getInt(3) == 1) { "expected an input shape [1, H, W, 1]" }
        height = shape.getInt(1)
        width = shape.getInt(2)
        val norm = json.getJSONObject("normalisation")
        require(norm.optString("ink", "bright") == "bright") { "the demo expects bright ink" }
        val drawing = json.getJSONObject("drawing")
        preprocess = Preprocess(
            height, width, norm.getInt("levels"), drawing.getInt("fit"),
            drawing.getDouble("threshold").toFloat(),
        )
        val models = json.getJSONObject("models")
        fun model(key: String) = models.getJSONObject(key).let {
            ModelFile(it.getString("file"), it.getLong("bytes"), it.getBoolean("needs_kernels"),
                it.optDouble("test_accuracy", Double.NaN))
        }
        hashed = model("hashed")
        dense = model("dense")
        val images = json.getJSONArray("test_images")
        testImages = List(images.length()) {
            val o = images.getJSONObject(it)
            TestImage(o.getString("file"), o.getInt("label"))
        }
    }

    fun label(index: Int): String = labels.getOrElse(index) { "#$index" }
}
