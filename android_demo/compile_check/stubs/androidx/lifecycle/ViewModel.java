// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published for androidx.lifecycle:lifecycle-viewmodel:2.8.7 (androidx/lifecycle/ViewModel.kt, JVM/Android actual) (pinned in
// android_demo/gradle/libs.versions.toml). Only what the app calls; the
// superclass chain as published, members the app does not use omitted.
package androidx.lifecycle;

public abstract class ViewModel {
  public ViewModel() { throw new RuntimeException("Stub!"); }
  protected void onCleared() { throw new RuntimeException("Stub!"); }
}
