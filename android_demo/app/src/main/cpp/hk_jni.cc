// The JNI bridge of the Android demo (Java side: org.hashedkeras.demo.HkNative).
//
// * createDelegate / destroyDelegate: the hashed_keras kernels' delegate
//   plugin (tflite_plugin_create_delegate), handed to Java as a
//   TfLiteDelegate* in a long. HashedKerasDelegate.kt returns it from
//   org.tensorflow.lite.Delegate.getNativeHandle(); the Interpreter applies it
//   with ModifyGraphWithDelegate. This is the app's route.
// * litert*: a LiteRT CompiledModel runner (C API, dlopen'ed) with the same
//   delegate attached as an accelerator: the host test's route, and the app's
//   on-device cross-check when libLiteRt.so is in the APK.
// * kernelsVersion, xxh32: the kernel library's plain C ABI.
#include <jni.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <vector>

#if defined(__ANDROID__)
#include <android/log.h>
#else
#include <stdio.h>
#endif

#include "hk_kernels.h"
#include "litert_runner.h"

namespace {

constexpr const char* kTag = "hk_jni";

void Log(const char* message) {
#if defined(__ANDROID__)
  __android_log_print(ANDROID_LOG_WARN, kTag, "%s", message);
#else
  fprintf(stderr, "%s: %s\n", kTag, message);
#endif
}

void Throw(JNIEnv* env, const char* class_name, const std::string& message) {
  jclass cls = env->FindClass(class_name);
  if (cls != nullptr) env->ThrowNew(cls, message.c_str());
}

void ThrowIllegalState(JNIEnv* env, const std::string& message) {
  Throw(env, "java/lang/IllegalStateException", message);
}

std::string ToString(JNIEnv* env, jstring s) {
  if (s == nullptr) return std::string();
  const char* chars = env->GetStringUTFChars(s, nullptr);
  if (chars == nullptr) return std::string();
  std::string out(chars);
  env->ReleaseStringUTFChars(s, chars);
  return out;
}

// tflite_plugin_create_delegate reports option errors through a callback
// without a user pointer: keep the last message per thread.
thread_local std::string t_plugin_error;
void ReportPluginError(const char* message) {
  t_plugin_error = message ? message : "";
  Log(t_plugin_error.c_str());
}

hkdemo::LiteRtRunner* RunnerFrom(JNIEnv* env, jlong handle) {
  if (handle == 0) {
    ThrowIllegalState(env, "the LiteRT runner is closed");
    return nullptr;
  }
  return reinterpret_cast<hkdemo::LiteRtRunner*>(static_cast<intptr_t>(handle));
}

jintArray ToJavaInts(JNIEnv* env, const std::vector<int>& v) {
  jintArray out = env->NewIntArray(static_cast<jsize>(v.size()));
  if (out == nullptr) return nullptr;
  std::vector<jint> tmp(v.begin(), v.end());
  env->SetIntArrayRegion(out, 0, static_cast<jsize>(tmp.size()), tmp.data());
  return out;
}

}  // namespace

extern "C" {

JNIEXPORT jstring JNICALL
Java_org_hashedkeras_demo_HkNative_kernelsVersion(JNIEnv* env, jclass) {
  return env->NewStringUTF(hk_kernels_version());
}

JNIEXPORT jint JNICALL Java_org_hashedkeras_demo_HkNative_xxh32(JNIEnv*, jclass,
                                                                jint key,
                                                                jint seed) {
  return static_cast<jint>(
      hk_xxh32(static_cast<uint32_t>(key), static_cast<uint32_t>(seed)));
}

JNIEXPORT jlong JNICALL Java_org_hashedkeras_demo_HkNative_createDelegate(
    JNIEnv* env, jclass, jboolean verbose) {
  char key[] = "verbose";
  char one[] = "1";
  char zero[] = "0";
  char* keys[] = {key};
  char* values[] = {verbose ? one : zero};
  t_plugin_error.clear();
  TfLiteDelegate* delegate =
      tflite_plugin_create_delegate(keys, values, 1, ReportPluginError);
  if (delegate == nullptr) {
    ThrowIllegalState(env, "tflite_plugin_create_delegate failed" +
                               (t_plugin_error.empty() ? std::string()
                                                       : ": " + t_plugin_error));
    return 0;
  }
  hkdemo::NoteDelegateCreated();
  return static_cast<jlong>(reinterpret_cast<intptr_t>(delegate));
}

JNIEXPORT void JNICALL Java_org_hashedkeras_demo_HkNative_destroyDelegate(
    JNIEnv*, jclass, jlong handle) {
  if (handle == 0) return;
  tflite_plugin_destroy_delegate(
      reinterpret_cast<TfLiteDelegate*>(static_cast<intptr_t>(handle)));
  hkdemo::NoteDelegateDestroyed();
}

JNIEXPORT jint JNICALL Java_org_hashedkeras_demo_HkNative_liveDelegates(JNIEnv*,
                                                                        jclass) {
  return hkdemo::LiveDelegates();
}

JNIEXPORT jlong JNICALL Java_org_hashedkeras_demo_HkNative_litertOpen(
    JNIEnv* env, jclass, jstring runtime_library, jstring model_path,
    jboolean with_kernels) {
  const std::string library = ToString(env, runtime_library);
  const std::string model = ToString(env, model_path);
  if (library.empty() || model.empty()) {
    Throw(env, "java/lang/IllegalArgumentException",
          "runtime library and model path must not be empty");
    return 0;
  }
  std::string error;
  std::unique_ptr<hkdemo::LiteRtRunner> runner =
      hkdemo::LiteRtRunner::Open(library, model, with_kernels != JNI_FALSE, &error);
  if (!runner) {
    ThrowIllegalState(env, error);
    return 0;
  }
  return static_cast<jlong>(reinterpret_cast<intptr_t>(runner.release()));
}

JNIEXPORT jintArray JNICALL Java_org_hashedkeras_demo_HkNative_litertInputShape(
    JNIEnv* env, jclass, jlong handle) {
  hkdemo::LiteRtRunner* runner = RunnerFrom(env, handle);
  return runner ? ToJavaInts(env, runner->input_shape()) : nullptr;
}

JNIEXPORT jintArray JNICALL Java_org_hashedkeras_demo_HkNative_litertOutputShape(
    JNIEnv* env, jclass, jlong handle) {
  hkdemo::LiteRtRunner* runner = RunnerFrom(env, handle);
  return runner ? ToJavaInts(env, runner->output_shape()) : nullptr;
}

JNIEXPORT jfloatArray JNICALL Java_org_hashedkeras_demo_HkNative_litertRun(
    JNIEnv* env, jclass, jlong handle, jfloatArray input) {
  hkdemo::LiteRtRunner* runner = RunnerFrom(env, handle);
  if (runner == nullptr) return nullptr;
  if (input == nullptr ||
      static_cast<size_t>(env->GetArrayLength(input)) != runner->input_size()) {
    Throw(env, "java/lang/IllegalArgumentException",
          "the input must have " + std::to_string(runner->input_size()) +
              " floats");
    return nullptr;
  }
  std::vector<float> in(runner->input_size());
  env->GetFloatArrayRegion(input, 0, static_cast<jsize>(in.size()), in.data());
  std::vector<float> out(runner->output_size());
  std::string error;
  if (!runner->Run(in.data(), out.data(), &error)) {
    ThrowIllegalState(env, error);
    return nullptr;
  }
  jfloatArray result = env->NewFloatArray(static_cast<jsize>(out.size()));
  if (result == nullptr) return nullptr;
  env->SetFloatArrayRegion(result, 0, static_cast<jsize>(out.size()), out.data());
  return result;
}

JNIEXPORT void JNICALL Java_org_hashedkeras_demo_HkNative_litertClose(JNIEnv*,
                                                                      jclass,
                                                                      jlong handle) {
  delete reinterpret_cast<hkdemo::LiteRtRunner*>(static_cast<intptr_t>(handle));
}

}  // extern "C"
