// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published for androidx.core:core:1.17.0 (via core-ktx 1.17.0) (pinned in
// android_demo/gradle/libs.versions.toml). Only what the app calls; the
// superclass chain as published, members the app does not use omitted.
package androidx.core.app;

import android.app.Activity;

public class ComponentActivity extends Activity {
  public ComponentActivity() { throw new RuntimeException("Stub!"); }
}
