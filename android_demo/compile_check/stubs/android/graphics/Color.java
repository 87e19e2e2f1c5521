// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.graphics;

public class Color {
  public Color() { throw new RuntimeException("Stub!"); }
  public static final int BLACK = 0xFF000000;
  public static final int WHITE = 0xFFFFFFFF;
}
