// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.widget;

import android.content.Context;
import android.view.View;

public class TextView extends View {
  public TextView(Context context) { super(context); throw new RuntimeException("Stub!"); }
  public CharSequence getText() { throw new RuntimeException("Stub!"); }
  public final void setText(CharSequence text) { throw new RuntimeException("Stub!"); }
}
