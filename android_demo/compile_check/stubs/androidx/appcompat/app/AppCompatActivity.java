// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published for androidx.appcompat:appcompat:1.7.1 (pinned in
// android_demo/gradle/libs.versions.toml). Only what the app calls; the
// superclass chain as published, members the app does not use omitted.
package androidx.appcompat.app;

import android.view.View;
import androidx.fragment.app.FragmentActivity;

public class AppCompatActivity extends FragmentActivity {
  public AppCompatActivity() { throw new RuntimeException("Stub!"); }
  @Override public void setContentView(int layoutResID) { throw new RuntimeException("Stub!"); }
  @Override public <T extends View> T findViewById(int id) { throw new RuntimeException("Stub!"); }
}
