// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package org.json;

public class JSONArray {
  public JSONArray() { throw new RuntimeException("Stub!"); }
  public int length() { throw new RuntimeException("Stub!"); }
  public int getInt(int index) throws JSONException { throw new RuntimeException("Stub!"); }
  public String getString(int index) throws JSONException { throw new RuntimeException("Stub!"); }
  public JSONObject getJSONObject(int index) throws JSONException { throw new RuntimeException("Stub!"); }
}
