#!/usr/bin/env bash
# Sanitizer and fuzzing checks of the kernels (for CI; about 3 minutes):
#  (a) builds the library and the C++ test drivers with ASan + UBSan and runs
#      them: hk_kernel_test (valid options against a reference, every
#      truncation and byte corruption, random bytes, the delegate on a fake
#      runtime: hostile graphs and the limits) and hk_verify_test (the model
#      verifier on real converted files and their corruptions);
#  (b) builds the libFuzzer targets and runs fuzz_options for
#      HK_FUZZ_SECONDS (60) from a seed corpus of valid options;
#  (c) runs fuzz_verify (whole files through hk_verify_model) for
#      HK_FUZZ_VERIFY_SECONDS (30) from the converted files of
#      tests/verify_samples.
# Needs cmake and clang (installed with apt-get if missing and possible).
# Environment: HK_CHECKS_BUILD_DIR (default: a temporary directory, removed
# at exit), HK_FUZZ_SECONDS (default 60), HK_FUZZ_VERIFY_SECONDS (default 30).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FUZZ_SECONDS="${HK_FUZZ_SECONDS:-60}"
FUZZ_VERIFY_SECONDS="${HK_FUZZ_VERIFY_SECONDS:-30}"
if [[ -n "${HK_CHECKS_BUILD_DIR:-}" ]]; then
  BUILD="$HK_CHECKS_BUILD_DIR"
  mkdir -p "$BUILD"
else
  BUILD="$(mktemp -d)"
  trap 'rm -rf "$BUILD"' EXIT
fi

if ! command -v clang++ >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    echo "== installing clang"
    $SUDO apt-get install -y -q clang >/dev/null 2>&1 || {
      $SUDO apt-get update -q >/dev/null 2>&1 &&
        $SUDO apt-get install -y -q clang >/dev/null 2>&1
    }
  fi
fi
if ! command -v clang++ >/dev/null 2>&1; then
  echo "ci_checks: clang++ is required (apt-get install clang)" >&2
  exit 1
fi
if ! command -v cmake >/dev/null 2>&1; then
  echo "ci_checks: cmake is required" >&2
  exit 1
fi
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
JOBS="$(nproc 2>/dev/null || echo 2)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== (a) ASan + UBSan build and test driver"
CC=clang CXX=clang++ cmake -S "$HERE" -B "$BUILD/sanitize" "${GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHK_SANITIZE=ON -DHK_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD/sanitize" -j "$JOBS"
"$BUILD/sanitize/hk_kernel_test"
"$BUILD/sanitize/hk_verify_test" "$HERE/tests/verify_samples"

# run_fuzzer NAME SECONDS CORPUS: runs a libFuzzer target, fails with its
# artifacts listed if it finds a crash.
run_fuzzer() {
  local status=0
  "$BUILD/fuzz/$1" -max_total_time="$2" -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/" "$3" 2>&1 | tail -n 25 ||
    status="${PIPESTATUS[0]}"
  if [[ "$status" != 0 ]]; then
    echo "ci_checks: $1 found a failure (artifacts in $BUILD/artifacts)" >&2
    ls -l "$BUILD/artifacts" >&2 || true
    exit "$status"
  fi
}

echo "== (b) libFuzzer: fuzz_options for ${FUZZ_SECONDS}s"
CC=clang CXX=clang++ cmake -S "$HERE" -B "$BUILD/fuzz" "${GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHK_FUZZ=ON >/dev/null
cmake --build "$BUILD/fuzz" -j "$JOBS" --target fuzz_options fuzz_verify
mkdir -p "$BUILD/corpus" "$BUILD/verify_corpus" "$BUILD/artifacts"
"$BUILD/sanitize/hk_kernel_test" --write-corpus "$BUILD/corpus"
run_fuzzer fuzz_options "$FUZZ_SECONDS" "$BUILD/corpus"
echo "== (c) libFuzzer: fuzz_verify for ${FUZZ_VERIFY_SECONDS}s"
cp "$HERE"/tests/verify_samples/*.tflite "$BUILD/verify_corpus/"
run_fuzzer fuzz_verify "$FUZZ_VERIFY_SECONDS" "$BUILD/verify_corpus"
echo "ci_checks: all kernel checks passed"
