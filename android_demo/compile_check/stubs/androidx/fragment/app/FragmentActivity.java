// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published for androidx.fragment:fragment (the version appcompat 1.7.1 depends on) (pinned in
// android_demo/gradle/libs.versions.toml). Only what the app calls; the
// superclass chain as published, members the app does not use omitted.
package androidx.fragment.app;

import androidx.activity.ComponentActivity;

public class FragmentActivity extends ComponentActivity {
  public FragmentActivity() { throw new RuntimeException("Stub!"); }
}
