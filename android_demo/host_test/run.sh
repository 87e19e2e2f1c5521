#!/usr/bin/env bash
# The Android demo's native path on the host. Builds the ONE native library the
# app loads, libhk_jni.so (the kernels + the JNI bridge), with the app's own
# CMake project, then exercises that file through the entry points the app
# uses:
#   a. python_check.py: ai_edge_litert's Interpreter loads libhk_jni.so as a
#      delegate plugin (load_delegate -- the delegate the app attaches with
#      Interpreter.Options.addDelegate) and runs the bundled models against
#      the dense twin, the manifest's predictions and the package's kernels;
#   b. HostTest.java: the host JVM loads libhk_jni.so through the app's own
#      HkNative.java and calls the app's JNI functions (verifyModel on the
#      bundled and corrupted models, createDelegate/destroyDelegate with caps),
#      plus the app's Preprocess.java;
#   c. a drawing end to end: the test images drawn on a canvas, made into
#      inputs by the app's Preprocess.fromDrawing (JVM), classified through
#      libhk_jni.so (Python).
# Exits non-zero on any failure.
#
#   android_demo/host_test/run.sh
#
# Environment: PYTHON (default <repo>/.venv/bin/python, else python3),
# JAVA_HOME (default: from javac), HK_HOST_BUILD (default host_test/build),
# HK_JOBS (default 2), HK_ASSETS (default app/src/main/assets).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$HERE")"
REPO="$(dirname "$DEMO")"
BUILD="${HK_HOST_BUILD:-$HERE/build}"
ASSETS="${HK_ASSETS:-$DEMO/app/src/main/assets}"
JAVA_SRC="$DEMO/app/src/main/java/org/hashedkeras/demo"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
for tool in cmake javac java; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }
done
if [[ -z "${JAVA_HOME:-}" ]]; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
fi
export JAVA_HOME
if [[ ! -f "$ASSETS/manifest.json" ]]; then
  echo "run.sh: no assets; run: $PYTHON android_demo/make_assets.py" >&2
  exit 2
fi

mkdir -p "$BUILD"
echo "== native: libhk_jni.so from the app's CMake project, for the host ($BUILD/native)"
cmake -S "$DEMO/app/src/main/cpp" -B "$BUILD/native" -DCMAKE_BUILD_TYPE=Release \
  -DJAVA_HOME="$JAVA_HOME" >"$BUILD/cmake.log" 2>&1 || { cat "$BUILD/cmake.log"; exit 1; }
cmake --build "$BUILD/native" --target hk_jni -j "${HK_JOBS:-2}"
LIB="$BUILD/native/libhk_jni.so"
[[ -f "$LIB" ]] || { echo "run.sh: $LIB was not built" >&2; exit 1; }
exports="$(nm -D --defined-only "$LIB" | awk '{print $3}' | sort | tr '\n' ' ')"
echo "exports: $exports"
for symbol in tflite_plugin_create_delegate tflite_plugin_destroy_delegate hk_verify_model \
              Java_org_hashedkeras_demo_HkNative_nativeCreateDelegate \
              Java_org_hashedkeras_demo_HkNative_destroyDelegate \
              Java_org_hashedkeras_demo_HkNative_nativeVerifyModel; do
  [[ " $exports " == *" $symbol "* ]] || { echo "run.sh: $LIB does not export $symbol" >&2; exit 1; }
done

echo "== a. Python: ai_edge_litert loads libhk_jni.so as a delegate plugin"
"$PYTHON" "$HERE/python_check.py" --jni-lib "$LIB" --assets "$ASSETS" \
  --out "$BUILD/reference.txt"

echo "== b. host JVM: the app's HkNative.java + Preprocess.java, and HostTest.java"
rm -rf "$BUILD/classes"
mkdir -p "$BUILD/classes"
javac -Xlint:all -Werror --release 17 -d "$BUILD/classes" \
  "$JAVA_SRC/HkNative.java" "$JAVA_SRC/Preprocess.java" "$HERE/HostTest.java"
java -Xcheck:jni -Djava.library.path="$BUILD/native" -cp "$BUILD/classes" HostTest \
  --assets "$ASSETS" --reference "$BUILD/reference.txt" --drawings "$BUILD/drawings.txt"

echo "== c. a drawing, end to end: Preprocess.fromDrawing (JVM) -> libhk_jni.so (Python)"
"$PYTHON" "$HERE/python_check.py" --jni-lib "$LIB" --assets "$ASSETS" \
  --out /dev/null --drawings "$BUILD/drawings.txt"
