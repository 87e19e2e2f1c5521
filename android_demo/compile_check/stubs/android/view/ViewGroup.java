// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.view;

import android.content.Context;

public abstract class ViewGroup extends View implements ViewParent {
  public ViewGroup(Context context) { super(context); throw new RuntimeException("Stub!"); }
  public static class LayoutParams {
    public LayoutParams(int width, int height) { throw new RuntimeException("Stub!"); }
  }
  public static class MarginLayoutParams extends LayoutParams {
    public MarginLayoutParams(int width, int height) { super(width, height); throw new RuntimeException("Stub!"); }
  }
  public void addView(View child, LayoutParams params) { throw new RuntimeException("Stub!"); }
  @Override public void requestDisallowInterceptTouchEvent(boolean disallowIntercept) { throw new RuntimeException("Stub!"); }
}
