// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.graphics;

public class Canvas {
  public Canvas(Bitmap bitmap) { throw new RuntimeException("Stub!"); }
  public void drawColor(int color) { throw new RuntimeException("Stub!"); }
  public void drawBitmap(Bitmap bitmap, float left, float top, Paint paint) { throw new RuntimeException("Stub!"); }
  public void drawBitmap(Bitmap bitmap, Rect src, Rect dst, Paint paint) { throw new RuntimeException("Stub!"); }
  public void drawPoint(float x, float y, Paint paint) { throw new RuntimeException("Stub!"); }
  public void drawLine(float startX, float startY, float stopX, float stopY, Paint paint) { throw new RuntimeException("Stub!"); }
}
