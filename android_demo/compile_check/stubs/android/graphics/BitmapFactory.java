// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.graphics;

import java.io.InputStream;

public class BitmapFactory {
  public BitmapFactory() { throw new RuntimeException("Stub!"); }
  public static class Options {
    public Options() { throw new RuntimeException("Stub!"); }
    public Bitmap.Config inPreferredConfig;
  }
  public static Bitmap decodeStream(InputStream is, Rect outPadding, Options opts) { throw new RuntimeException("Stub!"); }
}
