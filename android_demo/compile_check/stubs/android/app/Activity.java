// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.app;

import android.os.Bundle;
import android.view.ContextThemeWrapper;
import android.view.View;

public class Activity extends ContextThemeWrapper {
  public Activity() { throw new RuntimeException("Stub!"); }
  protected void onCreate(Bundle savedInstanceState) { throw new RuntimeException("Stub!"); }
  protected void onDestroy() { throw new RuntimeException("Stub!"); }
  public void setContentView(int layoutResID) { throw new RuntimeException("Stub!"); }
  public <T extends View> T findViewById(int id) { throw new RuntimeException("Stub!"); }
}
