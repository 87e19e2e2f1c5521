#!/usr/bin/env bash
# Regenerates schema_generated.h from schema.fbs with flatc 2.0.8 (Debian
# flatbuffers-compiler; the headers the kernels compile against are Debian's
# libflatbuffers-dev 2.0.8, and the generated header static_asserts that
# version).
#
#   bash hashed_keras/lite/kernels/schema/regenerate.sh          # rewrite
#   bash hashed_keras/lite/kernels/schema/regenerate.sh --check  # compare only
#
# schema.fbs is the official TFLite schema, unchanged (see ORIGIN.md). flatc
# 2.0.8 predates attributes on enum values and union members, so the two
# `(deprecated)` markers of the current schema (BuiltinOperator.REDUCE_WINDOW
# and BuiltinOptions.ReduceWindowOptions) are removed from a temporary copy
# before generating. They carry no information for C++ (the value and the
# union member stay; the wire format is the same).
# --check exits 1 if the committed header differs from a fresh one, 2 if flatc
# 2.0.8 is not installed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WANT_VERSION="2.0.8"
if ! command -v flatc >/dev/null 2>&1; then
  echo "regenerate.sh: flatc not found (apt-get install flatbuffers-compiler)" >&2
  exit 2
fi
VERSION="$(flatc --version | awk '{print $NF}')"
if [[ "$VERSION" != "$WANT_VERSION" ]]; then
  echo "regenerate.sh: flatc $VERSION found; the committed header is from flatc $WANT_VERSION" >&2
  exit 2
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
sed -E 's/^(  [A-Za-z0-9_]+( = [0-9]+)?) \(deprecated\),$/\1,/' \
  "$HERE/schema.fbs" >"$TMP/schema.fbs"
flatc --cpp --no-includes -o "$TMP" "$TMP/schema.fbs"
if [[ "${1:-}" == "--check" ]]; then
  if cmp -s "$TMP/schema_generated.h" "$HERE/schema_generated.h"; then
    echo "schema_generated.h is up to date"
  else
    echo "regenerate.sh: schema_generated.h differs from flatc $VERSION's output; run $0" >&2
    exit 1
  fi
else
  cp "$TMP/schema_generated.h" "$HERE/schema_generated.h"
  echo "wrote $HERE/schema_generated.h"
fi
