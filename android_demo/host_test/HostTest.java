import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
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
 * The Android demo's native path and plain-Java logic, on the host JVM.
 *
 * <p>Loads libhk_jni.so and libhashed_keras_kernels.so built for the host from
 * the app's own CMake project (android_demo/app/src/main/cpp), through the
 * app's own HkNative.java, and checks:
 *
 * <ul>
 *   <li>the real hashed model, run by a real runtime -- LiteRT's
 *       libLiteRt.so (C API, CompiledModel) with the kernels' delegate
 *       (tflite_plugin_create_delegate) attached -- matches the Python
 *       runtime (ai_edge_litert + hashed_keras.lite.make_interpreter) within
 *       1e-5 on every reference case, and so does the dense twin;
 *   <li>the hashed model does not run without the kernels;
 *   <li>createDelegate/destroyDelegate (the app's Interpreter route) and the
 *       runtime release every delegate they create;
 *   <li>xxh32 through JNI equals the Python hash contract;
 *   <li>Preprocess (the app's input pipeline) turns the bundled PNGs into the
 *       reference inputs bit for bit, and its drawing path is exact on
 *       block-scaled images and invariant to translation and scale.
 * </ul>
 *
 * <p>Usage: java -Djava.library.path=... HostTest --assets DIR --reference FILE
 * --litert libLiteRt.so. Exits 1 on any failure.
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
      // The same picture drawn large, at two scales and two positions.
      float[] a = pre.fromDrawing(drawing(pixels, w, h, 32, 300, 310, 13, 21), 300, 310);
      float[] b = pre.fromDrawing(drawing(pixels, w, h, 16, 200, 150, 60, 5), 200, 150);
      check(Arrays.equals(a, b), "Preprocess.fromDrawing is translation/scale invariant on "
          + c.name);
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

  static void testDelegateLifecycle() {
    int before = HkNative.liveDelegates();
    long d1 = HkNative.createDelegate(false);
    long d2 = HkNative.createDelegate(true);
    check(d1 != 0 && d2 != 0 && d1 != d2, "createDelegate returns distinct handles");
    check(HkNative.liveDelegates() == before + 2, "two live delegates");
    HkNative.destroyDelegate(d1);
    HkNative.destroyDelegate(d2);
    HkNative.destroyDelegate(0);
    check(HkNative.liveDelegates() == before, "destroyDelegate releases them");
    System.out.println("createDelegate/destroyDelegate: ok");
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }

  /** Runs every case through a runner; returns the largest difference from the reference. */
  static float compare(String model, long runner, Reference ref, boolean hashed) {
    float worst = 0;
    int agree = 0;
    for (Case c : ref.cases) {
      float[] want = hashed ? c.hashed : c.dense;
      float[] got = HkNative.litertRun(runner, c.input);
      float diff = Preprocess.maxAbsDiff(got, want);
      worst = Math.max(worst, diff);
      check(diff <= TOLERANCE, model + " " + c.name + ": max |JVM - Python| = " + diff);
      if (Preprocess.argmax(got) == Preprocess.argmax(want)) ++agree;
      if (c.label >= 0) {
        check(Preprocess.argmax(got) == Preprocess.argmax(want),
              model + " " + c.name + ": same class as Python");
      }
    }
    double[] times = new double[51];
    float[] x = ref.cases.get(0).input;
    HkNative.litertRun(runner, x);
    for (int i = 0; i < times.length; ++i) {
      long t0 = System.nanoTime();
      HkNative.litertRun(runner, x);
      times[i] = (System.nanoTime() - t0) / 1e6;
    }
    System.out.printf("%s via LiteRT C API from the JVM: %d cases, max |JVM - Python| = %.3g "
        + "(tolerance %.0e), same class %d/%d, median call %.4f ms%n", model, ref.cases.size(),
        worst, TOLERANCE, agree, ref.cases.size(), median(times));
    return worst;
  }

  static void testRuntime(Reference ref, File assets, String litert) {
    String hashedPath = new File(assets, "hashed.tflite").getPath();
    String densePath = new File(assets, "dense.tflite").getPath();
    int before = HkNative.liveDelegates();

    long t0 = System.nanoTime();
    long hashed = HkNative.litertOpen(litert, hashedPath, true);
    double openMs = (System.nanoTime() - t0) / 1e6;
    try {
      System.out.printf("hashed.tflite opened with the kernels in %.1f ms%n", openMs);
      check(Arrays.equals(HkNative.litertInputShape(hashed), ref.shape),
            "hashed input shape " + Arrays.toString(HkNative.litertInputShape(hashed))
            + " is the manifest's " + Arrays.toString(ref.shape));
      check(HkNative.liveDelegates() == before + 1,
            "the runtime asked for exactly one hashed_keras delegate");
      compare("hashed.tflite", hashed, ref, true);
    } finally {
      HkNative.litertClose(hashed);
    }
    check(HkNative.liveDelegates() == before,
          "closing the CompiledModel released the delegate (live: "
          + HkNative.liveDelegates() + ")");

    long dense = HkNative.litertOpen(litert, densePath, false);
    try {
      compare("dense.tflite", dense, ref, false);
    } finally {
      HkNative.litertClose(dense);
    }

    // Without the kernels the hashed model must not run.
    String error = null;
    long bare = 0;
    try {
      bare = HkNative.litertOpen(litert, hashedPath, false);
      HkNative.litertRun(bare, ref.cases.get(0).input);
    } catch (IllegalStateException e) {
      error = e.getMessage();
    } finally {
      HkNative.litertClose(bare);
    }
    check(error != null, "hashed.tflite without the kernels fails");
    System.out.println("hashed.tflite without the kernels: " + error);
  }

  public static void main(String[] args) throws Exception {
    String assetsDir = null, referencePath = null, litert = null;
    for (int i = 0; i + 1 < args.length; i += 2) {
      switch (args[i]) {
        case "--assets": assetsDir = args[i + 1]; break;
        case "--reference": referencePath = args[i + 1]; break;
        case "--litert": litert = args[i + 1]; break;
        default: throw new IllegalArgumentException("unknown argument " + args[i]);
      }
    }
    if (assetsDir == null || referencePath == null || litert == null) {
      System.err.println("usage: HostTest --assets DIR --reference FILE --litert libLiteRt.so");
      System.exit(2);
    }
    long start = System.nanoTime();
    File assets = new File(assetsDir);
    Reference ref = readReference(new File(referencePath));
    System.out.println("kernels " + HkNative.kernelsVersion() + " (JNI); reference from "
        + ref.meta.get("runtime") + ", kernels " + ref.meta.get("kernels"));
    System.out.println("runtime library: " + litert);

    String manifest = manifest(assets);
    Preprocess pre = new Preprocess(ref.shape[1], ref.shape[2],
        (int) numberAfter(manifest, "normalisation", "levels"),
        (int) numberAfter(manifest, "drawing", "fit"),
        (float) numberAfter(manifest, "drawing", "threshold"));
    testXxh32(ref);
    testPreprocess(ref, assets, pre);
    testDelegateLifecycle();
    testRuntime(ref, assets, litert);

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
