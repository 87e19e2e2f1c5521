// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.content;

import android.content.res.AssetManager;
import android.content.res.Resources;
import java.io.File;

public class ContextWrapper extends Context {
  public ContextWrapper(Context base) { throw new RuntimeException("Stub!"); }
  @Override public AssetManager getAssets() { throw new RuntimeException("Stub!"); }
  @Override public Resources getResources() { throw new RuntimeException("Stub!"); }
  @Override public File getFilesDir() { throw new RuntimeException("Stub!"); }
}
