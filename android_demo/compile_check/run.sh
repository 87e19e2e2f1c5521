#!/usr/bin/env bash
# Compile check of the Android app -- a STAND-IN for the Gradle build, which
# cannot run here (no Android SDK, AGP or Google Maven). It compiles EVERY app
# source (app/src/main/java/**/*.kt and *.java) with a real Kotlin compiler
# (kotlinc-jvm 2.2.20, the app's Kotlin version, from the npm package
# kotlin-compiler) and javac, against compile-only stubs (stubs/) of exactly
# the classes and members the app uses from:
#   - LiteRT com.google.ai.edge.litert:litert 1.4.1 (org.tensorflow.lite.*,
#     copied from tag v1.4.1's public Java sources; cited in each file),
#   - the Android API level 36 (android.*, org.json.*),
#   - androidx (appcompat 1.7.1, lifecycle-viewmodel 2.8.7, ...),
# plus an R class generated from the app's resources (make_r.py). java.* and
# javax.* resolve against the JDK's Java 8 API (-Xjdk-release=1.8, javac
# --release 8): Android 7.0 (API 24, the app's minSdk) implements most of it.
# Any unresolved symbol, type error or warning fails the check (-Werror).
#
#   android_demo/compile_check/run.sh
#
# Not checked here: resources/manifest linking (aapt2), the real Android and
# AndroidX class files (only the stubs' signatures), dexing, the APK.
#
# Environment: KOTLINC (a kotlinc-jvm to use), HK_KOTLINC_CACHE (where the npm
# package is installed if KOTLINC is unset; default
# ~/.cache/hashed_keras/kotlin-compiler-<version>), HK_COMPILE_BUILD (build
# dir; default compile_check/build), JAVA_HOME.
set -euo pipefail

KOTLIN_VERSION=2.2.20   # = kotlin in android_demo/gradle/libs.versions.toml
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(dirname "$HERE")"
APP="$DEMO/app/src/main"
BUILD="${HK_COMPILE_BUILD:-$HERE/build}"

pinned="$(sed -n 's/^kotlin *= *"\([^"]*\)".*/\1/p' "$DEMO/gradle/libs.versions.toml")"
if [[ "$pinned" != "$KOTLIN_VERSION" ]]; then
  echo "compile_check: the app pins Kotlin $pinned but this check uses $KOTLIN_VERSION;" \
       "update KOTLIN_VERSION in $0" >&2
  exit 2
fi
for tool in javac java python3; do
  command -v "$tool" >/dev/null || { echo "compile_check: $tool not found" >&2; exit 2; }
done

if [[ -z "${KOTLINC:-}" ]]; then
  CACHE="${HK_KOTLINC_CACHE:-$HOME/.cache/hashed_keras/kotlin-compiler-$KOTLIN_VERSION}"
  KOTLINC="$CACHE/node_modules/kotlin-compiler/bin/kotlinc-jvm"
  if [[ ! -x "$KOTLINC" ]]; then
    command -v npm >/dev/null || {
      echo "compile_check: kotlinc-jvm not found and npm is missing: install Node.js/npm" \
           "or set KOTLINC=<kotlinc-jvm $KOTLIN_VERSION>" >&2
      exit 2
    }
    echo "== installing kotlin-compiler@$KOTLIN_VERSION from npm into $CACHE"
    mkdir -p "$CACHE"
    npm install --silent --no-save --no-audit --no-fund --prefix "$CACHE" \
      "kotlin-compiler@$KOTLIN_VERSION" >&2
  fi
fi
KOTLIN_HOME="$(cd "$(dirname "$KOTLINC")/.." && pwd)"
STDLIB="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
[[ -f "$STDLIB" ]] || { echo "compile_check: $STDLIB not found" >&2; exit 2; }

rm -rf "$BUILD"
mkdir -p "$BUILD/stubs" "$BUILD/gen" "$BUILD/kotlin" "$BUILD/java"

echo "== stubs: $(find "$HERE/stubs" -name '*.java' | wc -l) compile-only classes (javac)"
find "$HERE/stubs" -name '*.java' > "$BUILD/stubs.txt"
javac -nowarn -Xlint:-options --release 8 -d "$BUILD/stubs" @"$BUILD/stubs.txt"

echo "== R.java from app/src/main/res"
python3 "$HERE/make_r.py" "$APP/res" org.hashedkeras.demo "$BUILD/gen"

find "$APP/java" -name '*.kt' | sort > "$BUILD/kotlin.txt"
find "$APP/java" -name '*.java' | sort > "$BUILD/java.txt"
echo "$BUILD/gen/org/hashedkeras/demo/R.java" >> "$BUILD/java.txt"
echo "== kotlinc-jvm $KOTLIN_VERSION: $(wc -l < "$BUILD/kotlin.txt") Kotlin files" \
     "(+ $(wc -l < "$BUILD/java.txt") Java files for resolution)"
# The JDK's Java 8 API stands for java.* on Android (API 24).
"$KOTLINC" -Werror -jvm-target 1.8 -Xjdk-release=1.8 -no-reflect -classpath "$BUILD/stubs" \
  -d "$BUILD/kotlin" $(cat "$BUILD/kotlin.txt") $(cat "$BUILD/java.txt")

echo "== javac: $(wc -l < "$BUILD/java.txt") Java files"
javac -Xlint:all,-options -Werror --release 8 -d "$BUILD/java" \
  -cp "$BUILD/stubs:$BUILD/kotlin:$STDLIB" @"$BUILD/java.txt"

n_classes="$(find "$BUILD/kotlin" "$BUILD/java" -name '*.class' | wc -l)"
echo "OK: every app source compiles against the pinned APIs' stubs ($n_classes classes)"
