// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.widget;

import android.content.Context;
import android.graphics.Bitmap;
import android.graphics.drawable.Drawable;
import android.view.View;

public class ImageView extends View {
  public ImageView(Context context) { super(context); throw new RuntimeException("Stub!"); }
  public void setImageBitmap(Bitmap bm) { throw new RuntimeException("Stub!"); }
  public void setImageDrawable(Drawable drawable) { throw new RuntimeException("Stub!"); }
}
