package org.hashedkeras.demo;

/**
 * Turns pixels into the model's input, as manifest.json describes it.
 *
 * <p>The data sets' convention (hk_experiments.data): one channel, float32 in
 * [0, 1], bright ink on a dark background. scikit-learn's digits are counts of
 * ink pixels in 4x4 blocks of a 32x32 bitmap (0..16), so their values are
 * multiples of 1/16: {@code levels = 16}. Fashion-MNIST and MNIST are 8-bit:
 * {@code levels = 255}.
 *
 * <p>Plain Java without Android dependencies: the host test runs it on the
 * host JVM. Pixels are ARGB ints, as Android's Bitmap.getPixels and
 * java.awt.image.BufferedImage.getRGB give them.
 */
public final class Preprocess {
  /** Model input height and width (one channel). */
  public final int height;
  public final int width;
  /** Quantisation levels of the data ({@code round(v * levels) / levels}); 0: none. */
  public final int levels;
  /** Drawings: the ink's bounding box is scaled to fit a {@code fit x fit} square, centred. */
  public final int fit;
  /** Drawings: pixels with more ink than this (0..1) define the bounding box. */
  public final float threshold;

  public Preprocess(int height, int width, int levels, int fit, float threshold) {
    if (height < 1 || width < 1 || levels < 0 || fit < 1 || fit > Math.min(height, width)) {
      throw new IllegalArgumentException("invalid preprocessing parameters: " + height + "x"
          + width + ", levels " + levels + ", fit " + fit);
    }
    this.height = height;
    this.width = width;
    this.levels = levels;
    this.fit = fit;
    this.threshold = threshold;
  }

  /** Grey level 0..255 of an ARGB pixel (exact for grey pixels). */
  public static int luminance(int argb) {
    int r = (argb >> 16) & 0xff;
    int g = (argb >> 8) & 0xff;
    int b = argb & 0xff;
    return (77 * r + 150 * g + 29 * b + 128) >> 8;
  }

  /** {@code v} rounded to the data's levels and clamped to [0, 1]. */
  public float quantize(double v) {
    if (v < 0) v = 0;
    if (v > 1) v = 1;
    if (levels == 0) return (float) v;
    return (float) Math.round(v * levels) / levels;
  }

  /**
   * An image already at the model's resolution (a bundled test image, stored
   * as 8-bit grey {@code round(255 x)}): {@code x = quantize(grey / 255)},
   * which gives back the data set's values exactly.
   */
  public float[] fromImage(int[] argb, int w, int h) {
    if (w != width || h != height || argb.length < w * h) {
      throw new IllegalArgumentException("expected a " + width + "x" + height + " image, got "
          + w + "x" + h);
    }
    float[] x = new float[width * height];
    for (int i = 0; i < x.length; ++i) {
      x[i] = quantize(luminance(argb[i]) / 255.0);
    }
    return x;
  }

  /**
   * A drawing of any size (bright ink on a dark canvas): the ink's bounding
   * box, padded to a square, is averaged down to {@code fit x fit} cells
   * centred in the input, then quantised. An empty drawing gives zeros.
   */
  public float[] fromDrawing(int[] argb, int w, int h) {
    if (w < 1 || h < 1 || argb.length < w * h) {
      throw new IllegalArgumentException("bad drawing size " + w + "x" + h);
    }
    double[] ink = new double[w * h];
    int minX = w, minY = h, maxX = -1, maxY = -1;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        double v = luminance(argb[y * w + x]) / 255.0;
        ink[y * w + x] = v;
        if (v > threshold) {
          minX = Math.min(minX, x);
          maxX = Math.max(maxX, x);
          minY = Math.min(minY, y);
          maxY = Math.max(maxY, y);
        }
      }
    }
    float[] out = new float[width * height];
    if (maxX < 0) return out;
    int boxW = maxX - minX + 1;
    int boxH = maxY - minY + 1;
    double side = Math.max(boxW, boxH);
    double x0 = minX - (side - boxW) / 2.0;
    double y0 = minY - (side - boxH) / 2.0;
    double cell = side / fit;
    int offX = (width - fit) / 2;
    int offY = (height - fit) / 2;
    for (int j = 0; j < fit; ++j) {
      double top = y0 + j * cell;
      double bottom = top + cell;
      for (int i = 0; i < fit; ++i) {
        double left = x0 + i * cell;
        double right = left + cell;
        double sum = 0;
        int yStart = Math.max(0, (int) Math.floor(top));
        int yEnd = Math.min(h, (int) Math.ceil(bottom));
        int xStart = Math.max(0, (int) Math.floor(left));
        int xEnd = Math.min(w, (int) Math.ceil(right));
        for (int y = yStart; y < yEnd; ++y) {
          double wy = Math.min(bottom, y + 1) - Math.max(top, y);
          if (wy <= 0) continue;
          for (int x = xStart; x < xEnd; ++x) {
            double wx = Math.min(right, x + 1) - Math.max(left, x);
            if (wx > 0) sum += wx * wy * ink[y * w + x];
          }
        }
        out[(offY + j) * width + offX + i] = quantize(sum / (cell * cell));
      }
    }
    return out;
  }

  /** Index of the largest value. */
  public static int argmax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; ++i) {
      if (values[i] > values[best]) best = i;
    }
    return best;
  }

  /** Largest absolute difference of two equally long arrays. */
  public static float maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) return Float.POSITIVE_INFINITY;
    float m = 0;
    for (int i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }

  /** An input as opaque grey ARGB pixels ({@code round(255 x)}), e.g. for a preview. */
  public static int[] toArgb(float[] x) {
    int[] argb = new int[x.length];
    for (int i = 0; i < x.length; ++i) {
      int g = Math.max(0, Math.min(255, Math.round(x[i] * 255f)));
      argb[i] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
    return argb;
  }
}
