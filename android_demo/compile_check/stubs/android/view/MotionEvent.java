// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.view;

public final class MotionEvent {
  MotionEvent() { throw new RuntimeException("Stub!"); }
  public static final int ACTION_DOWN = 0;
  public static final int ACTION_UP = 1;
  public static final int ACTION_MOVE = 2;
  public static final int ACTION_CANCEL = 3;
  public final int getActionMasked() { throw new RuntimeException("Stub!"); }
  public final float getX() { throw new RuntimeException("Stub!"); }
  public final float getY() { throw new RuntimeException("Stub!"); }
  public final int getHistorySize() { throw new RuntimeException("Stub!"); }
  public final float getHistoricalX(int pos) { throw new RuntimeException("Stub!"); }
  public final float getHistoricalY(int pos) { throw new RuntimeException("Stub!"); }
}
