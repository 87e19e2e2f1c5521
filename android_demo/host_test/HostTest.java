import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.hashedkeras.demo.HkNative;
import org.hashedkeras.demo.Preprocess;

/**
 * The Android demo's native library and plain-Java logic on the host JVM (host
 * test, part b).
 *
 * <p>Loads libhk_jni.so -- the one library the app loads, built for the host
 * from the app's own CMake project (android_demo/app/src/main/cpp) -- through
 * the app's own HkNative.java, and calls the JNI functions the app calls:
 *
 * <ul>
 *   <li>{@code verifyModel} (hk_verify_model) accepts the bundled models, with
 *       and without the app's caps, and answers every corrupted, truncated,
 *       random, empty or misplaced model with ONE line (never a crash), and a
 *       model over a cap with a line naming the cap;
 *   <li>{@code createDelegate}/{@code destroyDelegate} with the app's caps
 *       (max_virtual_weights, max_rebuild_bytes) give distinct handles and
 *       release them; a negative cap is an IllegalArgumentException;
 *   <li>xxh32 through JNI equals the Python hash contract;
 *   <li>Preprocess (the app's input pipeline) turns the bundled PNGs into the
 *       inputs python_check.py fed to the interpreter, bit for bit, and its
 *       drawing path is exact on block-scaled images and invariant to
 *       translation and scale;
 *   <li>with --drawings, each test image drawn on a 280x280 canvas becomes a
 *       model input through Preprocess.fromDrawing, for python_check.py to
 *       classify (run.sh step c).
 * </ul>
 *
 * <p>The models themselves run through the same library in python_check.py
 * (part a): no TFLite runtime with a Java API exists on this machine.
 *
 * <p>Usage: java -Djava.library.path=DIR HostTest --assets DIR --reference FILE
 * [--drawings OUT].
 * Exits 1 on any failure.
 */
public final class HostTest {
  static final float TOLERANCE = 1e-5f;

  static int checks = 0;
  static final List<String> failures = new ArrayList<>();

  static void check(boolean ok, String what) {
    ++checks;
    if (!ok) {
      failures.add(what);
      System.out.println("FAIL " + what);
    }
  }

  static final class Case {
    String kind;
    String name;
    int label;
    float[] input;
    float[] hashed;
    float[] dense;
  }

  static final class Reference {
    final Map<String, String> meta = new LinkedHashMap<>();
    final List<long[]> xxh32 = new ArrayList<>();
    final List<Case> cases = new ArrayList<>();
    int[] shape;
  }

  static float[] parseFloats(String[] t) {
    int n = Integer.parseInt(t[1]);
    if (t.length != n + 2) throw new IllegalArgumentException("bad line: " + t[0]);
    float[] v = new float[n];
    for (int i = 0; i < n; ++i) v[i] = Float.parseFloat(t[i + 2]);
    return v;
  }

  static Reference readReference(File file) throws IOException {
    Reference ref = new Reference();
    Case current = null;
    for (String line : Files.readAllLines(file.toPath(), StandardCharsets.UTF_8)) {
      if (line.isEmpty()) continue;
      String[] t = line.trim().split("\\s+");
      switch (t[0]) {
        case "meta":
          ref.meta.put(t[1], String.join(" ", Arrays.copyOfRange(t, 2, t.length)));
          if (t[1].equals("shape")) {
            ref.shape = Arrays.stream(Arrays.copyOfRange(t, 2, t.length))
                .mapToInt(Integer::parseInt).toArray();
          }
          break;
        case "xxh32":
          ref.xxh32.add(new long[] {Long.parseLong(t[1]), Long.parseLong(t[2]),
                                    Long.parseLong(t[3])});
          break;
        case "case":
          current = new Case();
          current.kind = t[1];
          current.name = t[2];
          current.label = Integer.parseInt(t[3]);
          break;
        case "input":
          current.input = parseFloats(t);
          break;
        case "hashed":
          current.hashed = parseFloats(t);
          break;
        case "dense":
          current.dense = parseFloats(t);
          break;
        case "end":
          ref.cases.add(current);
          current = null;
          break;
        default:
          throw new IllegalArgumentException("unknown reference line: " + t[0]);
      }
    }
    return ref;
  }

  /**
   * The PNG's pixels as opaque ARGB, as Android's Bitmap.getPixels gives them
   * for a greyscale PNG. (BufferedImage.getRGB would convert Java's linear
   * CS_GRAY to sRGB and change the grey levels; the raster has the stored
   * values.)
   */
  static int[] argb(BufferedImage image) {
    int w = image.getWidth(), h = image.getHeight();
    if (image.getRaster().getNumBands() != 1) return image.getRGB(0, 0, w, h, null, 0, w);
    int[] out = new int[w * h];
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        int g = image.getRaster().getSample(x, y, 0);
        out[y * w + x] = 0xff000000 | (g << 16) | (g << 8) | g;
      }
    }
    return out;
  }

  /** An image scaled by {@code k} (k x k blocks) into a black canvas at (ox, oy). */
  static int[] drawing(int[] argb, int w, int h, int k, int canvasW, int canvasH, int ox,
                       int oy) {
    int[] out = new int[canvasW * canvasH];
    Arrays.fill(out, 0xff000000);
    for (int y = 0; y < h * k; ++y) {
      for (int x = 0; x < w * k; ++x) {
        out[(oy + y) * canvasW + ox + x] = argb[(y / k) * w + x / k];
      }
    }
    return out;
  }

  static void testXxh32(Reference ref) {
    for (long[] v : ref.xxh32) {
      long got = HkNative.xxh32((int) v[0], (int) v[1]) & 0xffffffffL;
      check(got == v[2], "xxh32(" + v[0] + ", " + v[1] + ") = " + got + ", Python " + v[2]);
    }
    System.out.println("xxh32: " + ref.xxh32.size() + " vectors checked");
  }

  /**
   * Each bundled test image drawn onto a 280x280 "canvas" the way the app's
   * DigitCanvasView holds it (ARGB, black background), smaller than the canvas
   * and off-centre, and turned into a model input by Preprocess.fromDrawing --
   * the app's path for a finger drawing. Written as "drawing <name> <label> <n>
   * <floats>" lines for python_check.py --drawings, which classifies them.
   */
  static int writeDrawings(Reference ref, File assets, Preprocess pre, File out)
      throws IOException {
    StringBuilder lines = new StringBuilder();
    int n = 0;
    for (Case c : ref.cases) {
      if (!c.kind.equals("image")) continue;
      BufferedImage image = ImageIO.read(new File(assets, c.name));
      if (image == null) continue;
      int w = image.getWidth(), h = image.getHeight();
      int k = Math.max(1, 200 / Math.max(w, h));
      float[] x = pre.fromDrawing(drawing(argb(image), w, h, k, 280, 280, 31, 57), 280, 280);
      lines.append("drawing ").append(c.name).append(' ').append(c.label).append(' ')
          .append(x.length);
      for (float v : x) lines.append(' ').append(v);
      lines.append('\n');
      ++n;
    }
    Files.write(out.toPath(), lines.toString().getBytes(StandardCharsets.UTF_8));
    return n;
  }

  static void testPreprocess(Reference ref, File assets, Preprocess pre) throws IOException {
    int images = 0;
    for (Case c : ref.cases) {
      if (!c.kind.equals("image")) continue;
      BufferedImage image = ImageIO.read(new File(assets, c.name));
      check(image != null, "ImageIO decodes " + c.name);
      if (image == null) continue;
      int w = image.getWidth(), h = image.getHeight();
      int[] pixels = argb(image);
      float[] x = pre.fromImage(pixels, w, h);
      check(Arrays.equals(x, c.input), "Preprocess.fromImage(" + c.name
          + ") equals the Python input bit for bit (max diff "
          + Preprocess.maxAbsDiff(x, c.input) + ")");
      // The same picture drawn large, at two scales and two positions
      // (8x8 digits: 32x into 300x310 and 16x into 200x150).
      int k1 = Math.max(2, 256 / Math.max(w, h)), k2 = k1 / 2;
      int w1 = w * k1 + 44, h1 = h * k1 + 54, w2 = w * k2 + 72, h2 = h * k2 + 22;
      float[] a = pre.fromDrawing(drawing(pixels, w, h, k1, w1, h1, 13, 21), w1, h1);
      float[] b = pre.fromDrawing(drawing(pixels, w, h, k2, w2, h2, 60, 5), w2, h2);
      // Exact on the 8x8 digits (block scales map cells onto cells); on
      // 28x28 data the area averages of the two scales may round to
      // neighbouring grey levels, so one level (1/levels) is allowed there.
      float slack = pre.levels <= 16 ? 0f : 1f / pre.levels + 1e-6f;
      check(slack == 0f ? Arrays.equals(a, b) : Preprocess.maxAbsDiff(a, b) <= slack,
            "Preprocess.fromDrawing is translation/scale invariant on " + c.name
            + " (max diff " + Preprocess.maxAbsDiff(a, b) + ", allowed " + slack + ")");
      ++images;
    }
    // A pattern whose ink spans the whole frame comes back exactly.
    int w = pre.width, h = pre.height;
    int[] pattern = new int[w * h];
    float[] expected = new float[w * h];
    int levels = Math.max(pre.levels, 1);
    for (int i = 0; i < w * h; ++i) {
      int q = (i * 7 + 3) % (levels + 1);
      if (i == 0 || i == w * h - 1) q = levels;  // corners: full ink
      int g = Math.round(255f * q / levels);
      pattern[i] = 0xff000000 | (g << 16) | (g << 8) | g;
      expected[i] = pre.quantize(g / 255.0);
    }
    if (pre.fit == Math.min(w, h) && w == h) {
      float[] got = pre.fromDrawing(drawing(pattern, w, h, 24, w * 24 + 40, h * 24 + 40, 20, 20),
                                    w * 24 + 40, h * 24 + 40);
      check(Arrays.equals(got, expected), "Preprocess.fromDrawing recovers a full-frame "
          + "pattern exactly (max diff " + Preprocess.maxAbsDiff(got, expected) + ")");
    }
    float[] empty = pre.fromDrawing(new int[100 * 100], 100, 100);
    boolean zeros = true;
    for (float v : empty) zeros &= v == 0f;
    check(zeros, "an empty drawing gives zeros");
    System.out.println("Preprocess: " + images + " bundled images, drawing invariances, "
        + "full-frame pattern, empty canvas");
  }

  // The app's caps (DemoViewModel.MAX_VIRTUAL_WEIGHTS / MAX_REBUILD_BYTES).
  static final long APP_MAX_VIRTUAL_WEIGHTS = 16L << 20;
  static final long APP_MAX_REBUILD_BYTES = 128L << 20;

  static void testDelegateLifecycle() {
    int before = HkNative.liveDelegates();
    long d1 = HkNative.createDelegate(0, 0, false);
    long d2 = HkNative.createDelegate(APP_MAX_VIRTUAL_WEIGHTS, APP_MAX_REBUILD_BYTES, false);
    long d3 = HkNative.createDelegate(1000, 4096, true);
    long d4 = HkNative.createDelegate(0, 0, false, true);  // on the fly
    check(d1 != 0 && d2 != 0 && d3 != 0 && d4 != 0 && d1 != d2 && d2 != d3 && d1 != d3
          && d4 != d1 && d4 != d2 && d4 != d3,
          "createDelegate returns distinct handles");
    check(HkNative.liveDelegates() == before + 4, "four live delegates");
    HkNative.destroyDelegate(d1);
    HkNative.destroyDelegate(d2);
    HkNative.destroyDelegate(d3);
    HkNative.destroyDelegate(d4);
    HkNative.destroyDelegate(0);
    check(HkNative.liveDelegates() == before, "destroyDelegate releases them");
    String error = null;
    try {
      HkNative.createDelegate(-1, 0, false);
    } catch (IllegalArgumentException e) {
      error = e.getMessage();
    }
    check(error != null && error.contains("maxVirtualWeights"),
          "a negative cap is refused with a message: " + error);
    check(HkNative.liveDelegates() == before, "a refused delegate is not counted");
    System.out.println("createDelegate/destroyDelegate (caps 0/0, app caps, 1000/4096, "
        + "on the fly): ok; "
        + "negative cap: " + error);
  }

  static ByteBuffer direct(byte[] bytes) {
    ByteBuffer b = ByteBuffer.allocateDirect(bytes.length);
    b.put(bytes);
    b.rewind();
    return b;
  }

  /** verifyModel must answer null or one short line; returns the answer. */
  static String verify(String what, byte[] bytes, long maxVirtualWeights, long maxRebuildBytes) {
    String answer = HkNative.verifyModel(direct(bytes), maxVirtualWeights, maxRebuildBytes);
    if (answer != null) {
      check(!answer.isEmpty() && answer.indexOf('\n') < 0 && answer.indexOf('\r') < 0
            && answer.length() < 1024, what + ": one line (got " + answer.length() + " chars: "
            + answer + ")");
    }
    return answer;
  }

  static void testVerify(File assets) throws IOException {
    byte[] hashed = Files.readAllBytes(new File(assets, "hashed.tflite").toPath());
    byte[] dense = Files.readAllBytes(new File(assets, "dense.tflite").toPath());
    for (String[] m : new String[][] {{"hashed.tflite", "h"}, {"dense.tflite", "d"}}) {
      byte[] bytes = m[1].equals("h") ? hashed : dense;
      String a = HkNative.verifyModel(direct(bytes));
      String b = verify(m[0] + " (app caps)", bytes, APP_MAX_VIRTUAL_WEIGHTS,
                        APP_MAX_REBUILD_BYTES);
      check(a == null, m[0] + " passes the verifier: " + a);
      check(b == null, m[0] + " passes the verifier with the app's caps: " + b);
    }
    // position()/limit() select the model inside a larger buffer.
    ByteBuffer padded = ByteBuffer.allocateDirect(hashed.length + 24);
    padded.put(new byte[16]).put(hashed).put(new byte[8]);
    padded.position(16);
    padded.limit(16 + hashed.length);
    check(HkNative.verifyModel(padded) == null, "a model at an offset of a buffer passes");

    // A cap below the model's size: one line naming the cap.
    String capped = verify("hashed.tflite, max_virtual_weights 1000", hashed, 1000, 0);
    check(capped != null && capped.contains("max_virtual_weights"),
          "max_virtual_weights = 1000 refuses hashed.tflite naming the cap: " + capped);
    System.out.println("verifyModel(hashed.tflite, maxVirtualWeights=1000): " + capped);

    // Corrupted assets: each must give one line, never a crash.
    Map<String, byte[]> bad = new LinkedHashMap<>();
    bad.put("empty", new byte[0]);
    bad.put("first 7 bytes", Arrays.copyOf(hashed, 7));
    bad.put("first half", Arrays.copyOf(hashed, hashed.length / 2));
    bad.put("last byte cut", Arrays.copyOf(hashed, hashed.length - 1));
    byte[] root = hashed.clone();
    root[0] = (byte) 0xff;
    root[1] = (byte) 0xff;
    root[2] = (byte) 0xff;
    root[3] = (byte) 0x7f;  // root table offset far outside the file
    bad.put("root offset outside the file", root);
    byte[] random = new byte[4096];
    new java.util.Random(12).nextBytes(random);
    bad.put("4 KiB of random bytes", random);
    byte[] png = Files.readAllBytes(new File(assets, "test_images/test_0_label_0.png").toPath());
    bad.put("a PNG", png);
    int rejected = 0;
    for (Map.Entry<String, byte[]> e : bad.entrySet()) {
      String answer = verify(e.getKey(), e.getValue(), 0, 0);
      check(answer != null, "corrupted model (" + e.getKey() + ") is rejected");
      if (answer != null) ++rejected;
      System.out.println("  corrupted (" + e.getKey() + "): " + answer);
    }
    // A wrong file identifier ("TFL3" -> "XFL3") with an intact table: the
    // verifier may accept it (TFLite's runtime does not check the identifier
    // either), but it must answer null or one line.
    byte[] ident = hashed.clone();
    ident[4] = 'X';
    System.out.println("  file identifier XFL3: " + verify("wrong file identifier", ident, 0, 0));
    // A heap buffer and a null buffer: a line, not a crash.
    String heap = HkNative.verifyModel(ByteBuffer.wrap(hashed));
    check(heap != null && heap.contains("direct"), "a heap ByteBuffer is refused: " + heap);
    check(HkNative.verifyModel(null) != null, "a null buffer is refused");

    // Every 61st byte flipped (and the whole header): null or one line each.
    int flips = 0, flagged = 0;
    for (int i = 0; i < hashed.length; i += (i < 64 ? 1 : 61)) {
      byte[] m = hashed.clone();
      m[i] ^= (byte) 0xa5;
      if (verify("byte " + i + " flipped", m, 0, 0) != null) ++flagged;
      ++flips;
    }
    System.out.printf("verifyModel: both bundled models pass; %d/%d corrupted files rejected "
        + "with one line; %d single-byte corruptions answered (%d rejected), none crashed%n",
        rejected, bad.size(), flips, flagged);
  }

  public static void main(String[] args) throws Exception {
    String assetsDir = null, referencePath = null, drawingsPath = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--assets": assetsDir = args[i + 1]; break;
        case "--reference": referencePath = args[i + 1]; break;
        case "--drawings": drawingsPath = args[i + 1]; break;
        default: throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (assetsDir == null || referencePath == null) {
      System.err.println("usage: HostTest --assets DIR --reference FILE");
      System.exit(2);
    }
    long start = System.nanoTime();
    File assets = new File(assetsDir);
    Reference ref = readReference(new File(referencePath));
    if (HkNative.loadError() != null) {
      System.out.println("FAIL " + HkNative.loadError());
      System.exit(1);
    }
    System.out.println("libhk_jni.so: kernels " + HkNative.kernelsVersion()
        + "; reference from " + ref.meta.get("runtime") + " with " + ref.meta.get("delegate"));

    String manifest = manifest(assets);
    Preprocess pre = new Preprocess(ref.shape[1], ref.shape[2],
        (int) numberAfter(manifest, "normalisation", "levels"),
        (int) numberAfter(manifest, "drawing", "fit"),
        (float) numberAfter(manifest, "drawing", "threshold"));
    testXxh32(ref);
    testPreprocess(ref, assets, pre);
    if (drawingsPath != null) {
      int drawn = writeDrawings(ref, assets, pre, new File(drawingsPath));
      System.out.println("drawings: " + drawn + " test images drawn on a 280x280 canvas -> "
          + drawingsPath);
    }
    testDelegateLifecycle();
    testVerify(assets);

    System.out.printf("%n%d checks, %d failed, %.1f s%n", checks, failures.size(),
                      (System.nanoTime() - start) / 1e9);
    if (!failures.isEmpty()) {
      System.out.println("FAILED");
      System.exit(1);
    }
    System.out.println("OK");
  }

  // The few numbers of manifest.json the preprocessing needs (no JSON library
  // on the host classpath; the app reads the manifest with org.json).
  static String manifest(File assets) throws IOException {
    return new String(Files.readAllBytes(new File(assets, "manifest.json").toPath()),
                      StandardCharsets.UTF_8);
  }

  static double numberAfter(String json, String object, String key) {
    int o = json.indexOf("\"" + object + "\"");
    int k = o < 0 ? -1 : json.indexOf("\"" + key + "\"", o);
    if (k < 0) throw new IllegalArgumentException("manifest lacks " + object + "." + key);
    int colon = json.indexOf(':', k);
    int end = colon + 1;
    while (end < json.length() && " \n\r\t+-.eE0123456789".indexOf(json.charAt(end)) >= 0) {
      ++end;
    }
    return Double.parseDouble(json.substring(colon + 1, end).trim());
  }
}
