// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package org.json;

public class JSONObject {
  public JSONObject(String json) throws JSONException { throw new RuntimeException("Stub!"); }
  public String optString(String name, String fallback) { throw new RuntimeException("Stub!"); }
  public double optDouble(String name, double fallback) { throw new RuntimeException("Stub!"); }
  public int getInt(String name) throws JSONException { throw new RuntimeException("Stub!"); }
  public long getLong(String name) throws JSONException { throw new RuntimeException("Stub!"); }
  public double getDouble(String name) throws JSONException { throw new RuntimeException("Stub!"); }
  public boolean getBoolean(String name) throws JSONException { throw new RuntimeException("Stub!"); }
  public String getString(String name) throws JSONException { throw new RuntimeException("Stub!"); }
  public JSONObject getJSONObject(String name) throws JSONException { throw new RuntimeException("Stub!"); }
  public JSONArray getJSONArray(String name) throws JSONException { throw new RuntimeException("Stub!"); }
}
