#!/usr/bin/env bash
# The Android demo's native path on the host: builds the app's CMake project
# (the hashed_keras kernels + the JNI bridge) for this machine, compiles the
# app's HkNative.java and Preprocess.java with HostTest.java, writes reference
# outputs with the Python runtime, and runs HostTest on the host JVM against
# LiteRT's libLiteRt.so from the ai-edge-litert wheel. Exits non-zero on failure.
#
#   android_demo/host_test/run.sh
#
# Environment: PYTHON (default <repo>/.venv/bin/python, else python3),
# JAVA_HOME (default: from javac), HK_HOST_BUILD (default host_test/build),
# LITERT_LIB (default: libLiteRt.so of the Python ai_edge_litert package),
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
if [[ -z "${LITERT_LIB:-}" ]]; then
  LITERT_LIB="$("$PYTHON" -c 'import os, ai_edge_litert as m; print(os.path.join(os.path.dirname(m.__file__), "libLiteRt.so"))')"
fi
[[ -f "$LITERT_LIB" ]] || { echo "run.sh: LiteRT runtime not found at $LITERT_LIB" >&2; exit 2; }

mkdir -p "$BUILD"
echo "== native: the app's CMake project for the host ($BUILD/native)"
cmake -S "$DEMO/app/src/main/cpp" -B "$BUILD/native" -DCMAKE_BUILD_TYPE=Release \
  -DJAVA_HOME="$JAVA_HOME" >"$BUILD/cmake.log" 2>&1 || { cat "$BUILD/cmake.log"; exit 1; }
cmake --build "$BUILD/native" -j "${HK_JOBS:-2}"
KERNELS_DIR="$BUILD/native/hashed_keras_kernels"

echo "== java: the app's HkNative.java + Preprocess.java, and HostTest.java"
rm -rf "$BUILD/classes"
mkdir -p "$BUILD/classes"
javac -Xlint:all -Werror --release 17 -d "$BUILD/classes" \
  "$JAVA_SRC/HkNative.java" "$JAVA_SRC/Preprocess.java" "$HERE/HostTest.java"

echo "== reference: the Python runtime (ai_edge_litert + hashed_keras.lite.make_interpreter)"
"$PYTHON" "$HERE/make_reference.py" --assets "$ASSETS" --out "$BUILD/reference.txt"

echo "== host JVM"
java -Djava.library.path="$BUILD/native:$KERNELS_DIR" -cp "$BUILD/classes" HostTest \
  --assets "$ASSETS" --reference "$BUILD/reference.txt" --litert "$LITERT_LIB"
