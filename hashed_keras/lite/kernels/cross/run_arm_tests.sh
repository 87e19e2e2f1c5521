#!/usr/bin/env bash
# The kernels on ARM, under emulation: cross-compiles, for each target,
#   1. the kernel library with its C++ test drivers (HK_BUILD_TESTS: the
#      kernels' tests and, when present, the verifier's) and runs them with
#      ctest under qemu-user;
#   2. the Android demo's JNI library libhk_jni.so (android_demo/app/src/main/
#      cpp, the app's own CMake project: kernels + JNI bridge), checks its
#      exports, and runs jni_lib_smoke.c under qemu-user: dlopen the library,
#      create/destroy the delegate with the app's caps, verify the bundled
#      models and corrupted copies.
# Targets: aarch64-linux-gnu (arm64-v8a phones) and arm-linux-gnueabihf
# (32-bit ARM, armeabi-v7a), with Debian's cross compilers and sysroots
# (/usr/<triple>). ARM-specific faults -- alignment, `char` signedness (unsigned
# on ARM), 32-bit size_t and pointers, the AAPCS passing of TfLiteRegistration
# by value -- show up here.
#
#   hashed_keras/lite/kernels/cross/run_arm_tests.sh [triple...]
#
# Installs what is missing with apt-get (quietly; needs root): cmake, the
# cross g++, qemu-user, libflatbuffers-dev (headers the toolchain file points
# at). Environment: HK_ARM_BUILD (build dir, default <repo>/build/arm),
# HK_JOBS (default 2), JAVA_HOME (jni.h; default from javac).
# Exit status: 0 if every target passed, 1 if one failed, 2 if a tool is
# missing and cannot be installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KERNELS="$(dirname "$HERE")"
REPO="$(cd "$KERNELS/../../.." && pwd)"
TOOLCHAIN="$HERE/linux-cross.toolchain.cmake"
BUILD="${HK_ARM_BUILD:-$REPO/build/arm}"
JOBS="${HK_JOBS:-2}"
ASSETS="$REPO/android_demo/app/src/main/assets"
TRIPLES=("$@")
[[ ${#TRIPLES[@]} -gt 0 ]] || TRIPLES=(aarch64-linux-gnu arm-linux-gnueabihf)

qemu_for() { [[ "$1" == aarch64* ]] && echo qemu-aarch64 || echo qemu-arm; }

# --------------------------------------------------------------- tools
need=()
command -v cmake >/dev/null || need+=(cmake)
[[ -f /usr/include/flatbuffers/flatbuffers.h ]] || need+=(libflatbuffers-dev)
for t in "${TRIPLES[@]}"; do
  case "$t" in
    aarch64-linux-gnu|arm-linux-gnueabihf) ;;
    *) echo "run_arm_tests: unknown target '$t' (aarch64-linux-gnu or arm-linux-gnueabihf)" >&2
       exit 2 ;;
  esac
  command -v "$t-g++" >/dev/null || need+=("g++-$t")
  command -v "$(qemu_for "$t")" >/dev/null || need+=(qemu-user)
done
if [[ ${#need[@]} -gt 0 ]]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "run_arm_tests: missing ${need[*]}; install them: sudo apt-get install -y ${need[*]}" >&2
    exit 2
  fi
  echo "== apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq "${need[@]}" >/dev/null || {
      echo "run_arm_tests: apt-get install ${need[*]} failed" >&2; exit 2; }
  fi
fi
if [[ -z "${JAVA_HOME:-}" ]] && command -v javac >/dev/null; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"
fi
if [[ -z "${JAVA_HOME:-}" || ! -f "$JAVA_HOME/include/jni.h" ]]; then
  echo "run_arm_tests: jni.h not found: set JAVA_HOME to a JDK (apt-get install openjdk-17-jdk-headless)" >&2
  exit 2
fi
export JAVA_HOME

# Corrupted copies of the bundled model for the smoke test.
mkdir -p "$BUILD"
BAD="$BUILD/corrupt"
rm -rf "$BAD" && mkdir -p "$BAD"
GOOD=()
if [[ -f "$ASSETS/hashed.tflite" ]]; then
  GOOD=("$ASSETS/hashed.tflite" "$ASSETS/dense.tflite")
  head -c 4000 "$ASSETS/hashed.tflite" > "$BAD/truncated.tflite"
  head -c 1024 /dev/urandom > "$BAD/random.tflite"
  : > "$BAD/empty.tflite"
  cp "$ASSETS/test_images/test_0_label_0.png" "$BAD/png.tflite"
fi

# --------------------------------------------------------------- targets
failed=()
for t in "${TRIPLES[@]}"; do
  qemu="$(qemu_for "$t")"
  B="$BUILD/$t"
  echo "== $t: kernels + tests ($B/kernels)"
  if ! { cmake -S "$KERNELS" -B "$B/kernels" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
           -DHK_CROSS_TRIPLE="$t" -DHK_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release \
           >"$B.kernels.log" 2>&1 &&
         cmake --build "$B/kernels" -j "$JOBS" >>"$B.kernels.log" 2>&1; }; then
    grep -E -m 20 'error|Error' "$B.kernels.log" >&2 || tail -20 "$B.kernels.log" >&2
    echo "FAIL $t: the kernels do not build (log: $B.kernels.log)"
    failed+=("$t"); continue
  fi
  echo "  hk_kernel_test: ELF $("$t-readelf" -h "$B/kernels/hk_kernel_test" | sed -n 's/^ *\(Class\|Machine\): *//p' | tr '\n' ' ')"
  # ctest runs each test through CMAKE_CROSSCOMPILING_EMULATOR (qemu-user).
  if ! (cd "$B/kernels" && ctest -V --timeout 900 >"$B.ctest.log" 2>&1); then
    grep -E '^[0-9]+: (FAIL|.*[Ee]rror)' "$B.ctest.log" | head -20 || true
    tail -15 "$B.ctest.log"
    echo "FAIL $t: kernel tests under $qemu (log: $B.ctest.log)"
    failed+=("$t"); continue
  fi
  # The last line each test printed (its summary), and ctest's verdict.
  awk '/^[0-9]+: / { n = $1; sub(/^[0-9]+: /, ""); last[n] = $0 }
       END { for (n in last) print "  test " n " " last[n] }' "$B.ctest.log" | sort
  grep -E 'tests passed' "$B.ctest.log" | sed "s/^/  ctest under $qemu: /"

  echo "== $t: the Android demo's libhk_jni.so ($B/jni)"
  if ! { cmake -S "$REPO/android_demo/app/src/main/cpp" -B "$B/jni" \
           -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DHK_CROSS_TRIPLE="$t" \
           -DCMAKE_BUILD_TYPE=Release -DJAVA_HOME="$JAVA_HOME" >"$B.jni.log" 2>&1 &&
         cmake --build "$B/jni" --target hk_jni -j "$JOBS" >>"$B.jni.log" 2>&1; }; then
    grep -E -m 20 'error|Error' "$B.jni.log" >&2 || tail -20 "$B.jni.log" >&2
    echo "FAIL $t: libhk_jni.so does not build (log: $B.jni.log)"
    failed+=("$t"); continue
  fi
  "$t-gcc" -std=c99 -O1 -Wall -Wextra -Werror -I"$KERNELS" "$HERE/jni_lib_smoke.c" \
    -o "$B/jni_lib_smoke" -ldl
  if [[ ${#GOOD[@]} -eq 0 ]]; then
    echo "  (no bundled assets: smoke test without models)"
  fi
  if ! "$qemu" -L "/usr/$t" "$B/jni_lib_smoke" "$B/jni/libhk_jni.so" "${GOOD[@]}" \
         ${GOOD[0]:+--bad "$BAD"/*.tflite}; then
    echo "FAIL $t: libhk_jni.so under $qemu"
    failed+=("$t"); continue
  fi
  echo "PASS $t"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_arm_tests: FAILED on ${failed[*]}"
  exit 1
fi
echo "run_arm_tests: OK on ${TRIPLES[*]}"
