#!/usr/bin/env python3
"""Generates builtin_options_table.h: the options union member TFLite's parser
reads for every builtin operator.

The runtime turns an operator's options into its kernel's parameters in
``ParseOpDataTfLite`` (LiteRT ``tflite/core/api/flatbuffer_conversions.cc``):
one ``case BuiltinOperator_X:`` per builtin, which reads
``op->builtin_options_as_Y()`` (or ``builtin_options_2_as_Y()``) directly or
in a ``ParseX`` helper. This script reads that switch and records, for every
``BuiltinOperator`` of ``schema_generated.h``, the member ``Y`` it reads. For
a builtin whose case reads no options (``EQUAL``, ``TILE``, ``TRANSPOSE``, the
StableHLO element-wise operators, ...) the member named after the operator is
recorded (``EQUAL`` -> ``EqualOptions``, ``STABLEHLO_X`` ->
``StablehloXOptions``, compared without case and underscores), so files that
write those (empty) tables still pass; if there is none, only NONE is valid.

The verifier (verify.cc) refuses an operator whose ``builtin_options_type`` /
``builtin_options_2_type`` is neither NONE nor the recorded member: that is a
builtin code changed under another builtin's options (opcode confusion).

Usage (the LiteRT sources at the tag matching the pinned ai-edge-litert)::

    git -C LiteRT show v2.2.0:tflite/core/api/flatbuffer_conversions.cc > fc.cc
    python make_builtin_options.py fc.cc v2.2.0 > builtin_options_table.h
    python make_builtin_options.py --check fc.cc v2.2.0   # compare only

ai-edge-litert 2.3.0 has no tag in LiteRT; the file is identical at v2.2.0 and
on main (f67457790c9c, 2026-08-21), see ORIGIN.md.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Union members whose name does not follow the operator's (one table shared
# by two builtins); the script fails if a member is left unassigned.
EXCEPTIONS = {"MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions"}
OUT = HERE / "builtin_options_table.h"


def _enum(header: str, name: str) -> list[tuple[str, int]]:
    m = re.search(r"enum %s : \w+ \{(.*?)\};" % name, header, re.S)
    out = []
    for key, value in re.findall(r"^\s+%s_(\w+) = (-?\d+)," % name, m.group(1), re.M):
        if key not in ("MIN", "MAX"):
            out.append((key, int(value)))
    return out


def _function_bodies(source: str) -> dict[str, str]:
    bodies = {}
    for m in re.finditer(r"^TfLiteStatus (Parse\w+)\(const Operator\* op,", source, re.M):
        end = source.find("\n}\n", m.end())
        bodies.setdefault(m.group(1), source[m.end():end])
    return bodies


def _reads(text: str, bodies: dict[str, str], depth: int = 0) -> tuple[set, set]:
    one = set(re.findall(r"builtin_options_as_(\w+)\(", text))
    two = set(re.findall(r"builtin_options_2_as_(\w+)\(", text))
    if depth < 2:
        for callee in set(re.findall(r"\b(Parse\w+)\(op\b", text)):
            if callee in bodies:
                a, b = _reads(bodies[callee], bodies, depth + 1)
                one |= a
                two |= b
    return one, two


def _switch_cases(source: str) -> dict[str, str]:
    start = source.index("TfLiteStatus ParseOpDataTfLite(")
    end = source.index("}  // NOLINT[readability/fn_size]", start)
    body = source[start:end]
    labels = list(re.finditer(r"case BuiltinOperator_(\w+):", body))
    cases = {}
    group = []
    for i, m in enumerate(labels):
        group.append(m.group(1))
        stop = labels[i + 1].start() if i + 1 < len(labels) else len(body)
        text = body[m.end():stop]
        if text.strip() == "":
            continue  # falls through to the next label
        for name in group:
            cases[name] = text
        group = []
    return cases


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def generate(conversions: str, tag: str) -> str:
    header = (HERE / "schema_generated.h").read_text()
    operators = _enum(header, "BuiltinOperator")
    options = [k for k, _ in _enum(header, "BuiltinOptions")]
    options2 = [k for k, _ in _enum(header, "BuiltinOptions2")]
    by_key = {_key(k): k for k in options}
    by_key2 = {_key(k): k for k in options2}
    bodies = _function_bodies(conversions)
    cases = _switch_cases(conversions)
    rows = []
    for name, value in operators:
        one, two = _reads(cases.get(name, ""), bodies)
        if len(one) > 1 or len(two) > 1:
            raise SystemExit(f"{name}: the parser reads several options: {one} {two}")
        source = "parser"
        if not one and not two:
            source = "name"
            one = {by_key[_key(name) + "options"]} if _key(name) + "options" in by_key else set()
            if name in EXCEPTIONS:
                one = {EXCEPTIONS[name]}
            two = {by_key2[_key(name) + "options"]} if _key(name) + "options" in by_key2 else set()
            if not one and not two:
                source = "none"
        for member in one:
            assert member in options, (name, member)
        for member in two:
            assert member in options2, (name, member)
        rows.append((value, name, next(iter(one), "NONE"), next(iter(two), "NONE"), source))
    used = {r[2] for r in rows} | {r[3] for r in rows}
    unassigned = [m for m in options + options2 if m not in used and m != "NONE"]
    if unassigned:
        raise SystemExit(f"union members no builtin reads (add to EXCEPTIONS): {unassigned}")
    values = [v for v, *_ in rows]
    if values != list(range(len(values))):
        raise SystemExit("BuiltinOperator values are not 0..N-1")
    lines = [
        "// Generated by make_builtin_options.py from LiteRT %s" % tag,
        "// tflite/core/api/flatbuffer_conversions.cc (ParseOpDataTfLite) and",
        "// schema_generated.h. Do not edit; rerun the script (see its docstring).",
        "//",
        "// For every BuiltinOperator (indexed by its value): the BuiltinOptions and",
        "// BuiltinOptions2 members TFLite's parser reads for it ('parser'), or, if it",
        "// reads none, the member named after the operator ('name'), or none",
        "// ('none'). An operator's options type must be NONE or this member.",
        "#ifndef HASHED_KERAS_LITE_KERNELS_SCHEMA_BUILTIN_OPTIONS_TABLE_H_",
        "#define HASHED_KERAS_LITE_KERNELS_SCHEMA_BUILTIN_OPTIONS_TABLE_H_",
        "",
        '#include "schema_generated.h"',
        "",
        "namespace hk {",
        "",
        "struct BuiltinOptionsRule {",
        "  tflite::BuiltinOperator op;",
        "  tflite::BuiltinOptions options;",
        "  tflite::BuiltinOptions2 options2;",
        "};",
        "",
        "constexpr BuiltinOptionsRule kBuiltinOptionsRules[] = {",
    ]
    for value, name, one, two, source in rows:
        lines.append("    {tflite::BuiltinOperator_%s, tflite::BuiltinOptions_%s,"
                     % (name, one))
        lines.append("     tflite::BuiltinOptions2_%s},  // %d, %s" % (two, value, source))
    lines += [
        "};",
        "",
        "static_assert(sizeof(kBuiltinOptionsRules) / sizeof(kBuiltinOptionsRules[0]) ==",
        "                  static_cast<size_t>(tflite::BuiltinOperator_MAX) + 1,",
        '              "one rule per builtin operator");',
        "",
        "}  // namespace hk",
        "",
        "#endif  // HASHED_KERAS_LITE_KERNELS_SCHEMA_BUILTIN_OPTIONS_TABLE_H_",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    check = argv[:1] == ["--check"]
    if check:
        argv = argv[1:]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    text = generate(Path(argv[0]).read_text(), argv[1])
    if check:
        if OUT.read_text() != text:
            print("builtin_options_table.h differs; rerun make_builtin_options.py", file=sys.stderr)
            return 1
        print("builtin_options_table.h is up to date")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
