// Compile-only stub for android_demo/compile_check (a stand-in for the Gradle
// build; never packaged). Signatures as published in the Android API reference
// for API level 36 (compileSdk 36, android.jar of platform android-36);
// bodies throw like android.jar's. Only the members the app calls (and,
// for Kotlin properties, their getters/setters).
package android.view;

import android.content.Context;
import android.graphics.Canvas;
import android.util.AttributeSet;

public class View {
  public static final int VISIBLE = 0x00000000;
  public static final int GONE = 0x00000008;

  public interface OnClickListener {
    void onClick(View v);
  }

  public static class MeasureSpec {
    public static final int UNSPECIFIED = 0;
    public MeasureSpec() { throw new RuntimeException("Stub!"); }
    public static int getMode(int measureSpec) { throw new RuntimeException("Stub!"); }
    public static int getSize(int measureSpec) { throw new RuntimeException("Stub!"); }
  }

  public View(Context context) { throw new RuntimeException("Stub!"); }
  public View(Context context, AttributeSet attrs) { throw new RuntimeException("Stub!"); }
  protected void onMeasure(int widthMeasureSpec, int heightMeasureSpec) { throw new RuntimeException("Stub!"); }
  protected final void setMeasuredDimension(int measuredWidth, int measuredHeight) { throw new RuntimeException("Stub!"); }
  protected void onSizeChanged(int w, int h, int oldw, int oldh) { throw new RuntimeException("Stub!"); }
  protected void onDraw(Canvas canvas) { throw new RuntimeException("Stub!"); }
  public boolean onTouchEvent(MotionEvent event) { throw new RuntimeException("Stub!"); }
  public boolean performClick() { throw new RuntimeException("Stub!"); }
  public void invalidate() { throw new RuntimeException("Stub!"); }
  public final ViewParent getParent() { throw new RuntimeException("Stub!"); }
  public final int getWidth() { throw new RuntimeException("Stub!"); }
  public final int getHeight() { throw new RuntimeException("Stub!"); }
  public boolean isEnabled() { throw new RuntimeException("Stub!"); }
  public void setEnabled(boolean enabled) { throw new RuntimeException("Stub!"); }
  public int getVisibility() { throw new RuntimeException("Stub!"); }
  public void setVisibility(int visibility) { throw new RuntimeException("Stub!"); }
  public CharSequence getContentDescription() { throw new RuntimeException("Stub!"); }
  public void setContentDescription(CharSequence contentDescription) { throw new RuntimeException("Stub!"); }
  public void setPadding(int left, int top, int right, int bottom) { throw new RuntimeException("Stub!"); }
  public void setOnClickListener(OnClickListener l) { throw new RuntimeException("Stub!"); }
}
