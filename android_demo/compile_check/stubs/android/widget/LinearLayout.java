// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.widget;

import android.content.Context;
import android.view.ViewGroup;

public class LinearLayout extends ViewGroup {
  public LinearLayout(Context context) { super(context); throw new RuntimeException("Stub!"); }
  public static class LayoutParams extends ViewGroup.MarginLayoutParams {
    public LayoutParams(int width, int height) { super(width, height); throw new RuntimeException("Stub!"); }
  }
}
