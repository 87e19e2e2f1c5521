// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published for androidx.lifecycle:lifecycle-viewmodel:2.8.7 (androidx/lifecycle/ViewModelProvider.android.kt) (pinned in
// android_demo/gradle/libs.versions.toml). Only what the app calls; the
// superclass chain as published, members the app does not use omitted.
package androidx.lifecycle;

public class ViewModelProvider {
  public ViewModelProvider(ViewModelStoreOwner owner) { throw new RuntimeException("Stub!"); }
  public <T extends ViewModel> T get(Class<T> modelClass) { throw new RuntimeException("Stub!"); }
}
