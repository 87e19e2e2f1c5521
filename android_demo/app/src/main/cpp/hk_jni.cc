// The JNI bridge of the Android demo (Java side: org.hashedkeras.demo.HkNative).
//
// Linked into the same libhk_jni.so as the hashed_keras kernels, which also
// exports their delegate-plugin entry points: the file the app loads is the
// file a TFLite runtime can load as a delegate plugin (the host test does).
//
// * nativeCreateDelegate / destroyDelegate: the kernels' delegate
//   (tflite_plugin_create_delegate, with the caps max_virtual_weights /
//   max_rebuild_bytes and the execution mode weights = rebuilt |
//   on_the_fly), handed to Java as a TfLiteDelegate* in a long.
//   HashedKerasDelegate.kt returns it from
//   org.tensorflow.lite.Delegate.getNativeHandle(); LiteRT 1.4.1's Interpreter
//   applies it (Interpreter.Options.addDelegate, public API).
// * nativeVerifyModel: hk_verify_model on the model bytes, before any
//   interpreter sees them; null or ONE line saying what is wrong.
// * kernelsVersion, xxh32, liveDelegates: small checks.
//
// Every function reports bad arguments as a Java exception or an error
// string; none aborts the process on hostile input (model bytes are never
// trusted: the verifier reads only [data, data + size), and its message is
// made plain ASCII before it becomes a Java string).
#include <jni.h>
#include <stdint.h>
#include <stdio.h>

#include <atomic>
#include <string>

#if defined(__ANDROID__)
#include <android/log.h>
#endif

#include "hk_kernels.h"

namespace {

constexpr const char* kTag = "hk_jni";

std::atomic<int> g_live_delegates{0};

void Log(const std::string& message) {
#if defined(__ANDROID__)
  __android_log_print(ANDROID_LOG_WARN, kTag, "%s", message.c_str());
#else
  fprintf(stderr, "%s: %s\n", kTag, message.c_str());
#endif
}

// One line of printable ASCII: control bytes and line breaks become spaces,
// bytes >= 0x80 (which a hostile model can put into a name the message
// quotes) become '?', so NewStringUTF always gets valid modified UTF-8;
// surrounding blanks are trimmed.
std::string OneLine(const char* text) {
  std::string out;
  if (text == nullptr) return out;
  for (const char* p = text; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      out.push_back('?');
    } else if (c < 0x20 || c == 0x7f) {
      out.push_back(' ');
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  const size_t begin = out.find_first_not_of(' ');
  if (begin == std::string::npos) return std::string();
  const size_t end = out.find_last_not_of(' ');
  return out.substr(begin, end - begin + 1);
}

void Throw(JNIEnv* env, const char* class_name, const std::string& message) {
  if (env->ExceptionCheck()) return;  // keep the pending one
  jclass cls = env->FindClass(class_name);
  if (cls != nullptr) env->ThrowNew(cls, OneLine(message.c_str()).c_str());
}

// tflite_plugin_create_delegate reports option errors through a callback
// without a user pointer: keep the last message per thread.
thread_local std::string t_plugin_error;
void ReportPluginError(const char* message) {
  t_plugin_error = OneLine(message);
  Log(t_plugin_error);
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

JNIEXPORT jlong JNICALL Java_org_hashedkeras_demo_HkNative_nativeCreateDelegate(
    JNIEnv* env, jclass, jlong max_virtual_weights, jlong max_rebuild_bytes,
    jboolean verbose, jboolean on_the_fly) {
  if (max_virtual_weights < 0 || max_rebuild_bytes < 0) {
    Throw(env, "java/lang/IllegalArgumentException",
          "maxVirtualWeights and maxRebuildBytes must be >= 0 (0 = the "
          "kernels' default), got " +
              std::to_string(max_virtual_weights) + " and " +
              std::to_string(max_rebuild_bytes));
    return 0;
  }
  // Plugin options as the runtimes pass them: key/value strings. A cap of 0
  // is left out (the kernels' default applies).
  std::string vw = std::to_string(max_virtual_weights);
  std::string rb = std::to_string(max_rebuild_bytes);
  char k_verbose[] = "verbose";
  char k_vw[] = "max_virtual_weights";
  char k_rb[] = "max_rebuild_bytes";
  char k_weights[] = "weights";
  char v_one[] = "1";
  char v_zero[] = "0";
  char v_rebuilt[] = "rebuilt";
  char v_on_the_fly[] = "on_the_fly";
  char* keys[4];
  char* values[4];
  size_t n = 0;
  keys[n] = k_verbose;
  values[n++] = verbose ? v_one : v_zero;
  keys[n] = k_weights;
  values[n++] = on_the_fly ? v_on_the_fly : v_rebuilt;
  if (max_virtual_weights > 0) {
    keys[n] = k_vw;
    values[n++] = &vw[0];
  }
  if (max_rebuild_bytes > 0) {
    keys[n] = k_rb;
    values[n++] = &rb[0];
  }
  t_plugin_error.clear();
  TfLiteDelegate* delegate =
      tflite_plugin_create_delegate(keys, values, n, ReportPluginError);
  if (delegate == nullptr) {
    Throw(env, "java/lang/IllegalStateException",
          "the hashed_keras delegate refused its options" +
              (t_plugin_error.empty() ? std::string()
                                      : ": " + t_plugin_error));
    return 0;
  }
  g_live_delegates.fetch_add(1);
  return static_cast<jlong>(reinterpret_cast<intptr_t>(delegate));
}

JNIEXPORT void JNICALL Java_org_hashedkeras_demo_HkNative_destroyDelegate(
    JNIEnv*, jclass, jlong handle) {
  if (handle == 0) return;
  tflite_plugin_destroy_delegate(
      reinterpret_cast<TfLiteDelegate*>(static_cast<intptr_t>(handle)));
  g_live_delegates.fetch_sub(1);
}

JNIEXPORT jint JNICALL Java_org_hashedkeras_demo_HkNative_liveDelegates(JNIEnv*,
                                                                        jclass) {
  return g_live_delegates.load();
}

JNIEXPORT jstring JNICALL Java_org_hashedkeras_demo_HkNative_nativeVerifyModel(
    JNIEnv* env, jclass, jobject buffer, jint offset, jint length,
    jlong max_virtual_weights, jlong max_rebuild_bytes) {
  std::string problem;
  const uint8_t* data = nullptr;
  if (buffer == nullptr) {
    problem = "the model buffer is null";
  } else {
    data = static_cast<const uint8_t*>(env->GetDirectBufferAddress(buffer));
    const jlong capacity = env->GetDirectBufferCapacity(buffer);
    if (data == nullptr || capacity < 0) {
      problem =
          "the model is not in a direct ByteBuffer: copy it into "
          "ByteBuffer.allocateDirect(size) first";
    } else if (offset < 0 || length < 0 ||
               static_cast<jlong>(offset) + length > capacity) {
      problem = "bytes [" + std::to_string(offset) + ", " +
                std::to_string(static_cast<jlong>(offset) + length) +
                ") lie outside the model buffer of " +
                std::to_string(capacity) + " bytes";
    } else if (max_virtual_weights < 0 || max_rebuild_bytes < 0) {
      problem =
          "maxVirtualWeights and maxRebuildBytes must be >= 0 (0 = the "
          "kernels' default)";
    }
  }
  if (!problem.empty()) return env->NewStringUTF(OneLine(problem.c_str()).c_str());

  HkLimits limits = {};
  limits.struct_size = sizeof(HkLimits);
  limits.max_virtual_weights = static_cast<uint64_t>(max_virtual_weights);
  limits.max_rebuild_bytes = static_cast<uint64_t>(max_rebuild_bytes);
  char error[1024] = {0};
  const int status = hk_verify_model(data + offset, static_cast<size_t>(length),
                                     &limits, error, sizeof(error));
  if (status == HK_OK) return nullptr;
  error[sizeof(error) - 1] = '\0';
  std::string line = OneLine(error);
  if (line.empty()) {
    line = "the model failed verification (code " + std::to_string(status) +
           ") without a message";
  }
  return env->NewStringUTF(line.c_str());
}

}  // extern "C"
