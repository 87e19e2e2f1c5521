// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.graphics;

public class Paint {
  public static final int ANTI_ALIAS_FLAG = 1;
  public Paint() { throw new RuntimeException("Stub!"); }
  public Paint(int flags) { throw new RuntimeException("Stub!"); }
  public enum Style { FILL, STROKE, FILL_AND_STROKE }
  public enum Cap { BUTT, ROUND, SQUARE }
  public enum Join { MITER, ROUND, BEVEL }
  public int getColor() { throw new RuntimeException("Stub!"); }
  public void setColor(int color) { throw new RuntimeException("Stub!"); }
  public Style getStyle() { throw new RuntimeException("Stub!"); }
  public void setStyle(Style style) { throw new RuntimeException("Stub!"); }
  public Cap getStrokeCap() { throw new RuntimeException("Stub!"); }
  public void setStrokeCap(Cap cap) { throw new RuntimeException("Stub!"); }
  public Join getStrokeJoin() { throw new RuntimeException("Stub!"); }
  public void setStrokeJoin(Join join) { throw new RuntimeException("Stub!"); }
  public float getStrokeWidth() { throw new RuntimeException("Stub!"); }
  public void setStrokeWidth(float width) { throw new RuntimeException("Stub!"); }
  public final boolean isFilterBitmap() { throw new RuntimeException("Stub!"); }
  public void setFilterBitmap(boolean filter) { throw new RuntimeException("Stub!"); }
}
