"""Reference outputs for the host test, from the Python runtime.

  python android_demo/host_test/make_reference.py --assets android_demo/app/src/main/assets \
      --out android_demo/host_test/build/reference.txt

For every bundled test image (decoded here from the PNG, normalised by the
manifest's rule) and for a few random inputs, runs ``hashed.tflite`` through
``hashed_keras.lite.make_interpreter`` (ai_edge_litert's Interpreter with the
hashed_keras kernels) and ``dense.tflite`` through ai_edge_litert's plain
Interpreter, and writes inputs and outputs as text for HostTest.java:

  meta <key> <value...>
  xxh32 <key> <seed> <hash>               (unsigned 32-bit)
  case <kind> <name> <label>              kind: image | random; label -1 if none
  input <n> <floats>
  hashed <n> <floats>
  dense <n> <floats>
  end

Floats are written with 9 significant digits (float32 round-trips exactly).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402


def read_png_gray8(path) -> np.ndarray:
    """Decodes an 8-bit greyscale, non-interlaced PNG (as make_assets.py writes)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color != 0 or interlace != 0:
        raise ValueError(f"{path}: expected 8-bit greyscale, non-interlaced")
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(width)
    for y in range(height):
        line = raw[y * (width + 1):(y + 1) * (width + 1)]
        kind, row = line[0], bytearray(line[1:])
        for x in range(width):
            left = row[x - 1] if x else 0
            up, up_left = prev[x], (prev[x - 1] if x else 0)
            if kind == 1:
                row[x] = (row[x] + left) & 0xFF
            elif kind == 2:
                row[x] = (row[x] + up) & 0xFF
            elif kind == 3:
                row[x] = (row[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                row[x] = (row[x] + pred) & 0xFF
            elif kind != 0:
                raise ValueError(f"{path}: bad PNG filter {kind}")
        rows.append(bytes(row))
        prev = row
    return np.frombuffer(b"".join(rows), np.uint8).reshape(height, width)


def normalise(gray, levels):
    """The manifest's rule: round(grey / 255 * levels) / levels (float32)."""
    v = gray.astype(np.float64) / 255.0
    if levels:
        v = np.round(v * levels) / levels
    return v.astype(np.float32)


def run(interpreter, x):
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).reshape(-1).copy()


def floats(values):
    return " ".join(f"{float(v):.9g}" for v in np.asarray(values, np.float32).reshape(-1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--assets", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--random", type=int, default=8, help="random inputs in [0, 1)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    from hashed_keras import hashing
    from hashed_keras.lite import library_path, make_interpreter

    assets = Path(args.assets)
    manifest = json.loads((assets / "manifest.json").read_text())
    shape = manifest["input"]["shape"]
    levels = manifest["normalisation"]["levels"]
    hashed_path = str(assets / manifest["models"]["hashed"]["file"])
    dense_path = str(assets / manifest["models"]["dense"]["file"])
    hashed = make_interpreter(hashed_path, runtime="ai_edge_litert", num_threads=1)
    dense = Interpreter(model_path=dense_path, num_threads=1)

    cases = []
    for image in manifest["test_images"]:
        gray = read_png_gray8(assets / image["file"])
        cases.append(("image", image["file"], image["label"],
                      normalise(gray, levels).reshape(shape)))
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        cases.append(("random", f"random_{i}", -1,
                      rng.random(shape, dtype=np.float32)))

    keys = [0, 1, 2, 1000, 2**31 + 5, 2**32 - 1]
    seeds = [0, 1, 123456789, 2**32 - 1]
    lines = [
        f"meta runtime ai_edge_litert {ai_edge_litert.__version__}",
        f"meta kernels {library_path()}",
        "meta shape " + " ".join(str(d) for d in shape),
    ]
    for seed in seeds:
        hashes = hashing.xxh32(np.asarray(keys, np.uint32), seed)
        lines += [f"xxh32 {k} {seed} {int(h)}" for k, h in zip(keys, hashes)]
    for kind, name, label, x in cases:
        yh, yd = run(hashed, x), run(dense, x)
        lines += [f"case {kind} {name} {label}",
                  f"input {x.size} {floats(x)}",
                  f"hashed {yh.size} {floats(yh)}",
                  f"dense {yd.size} {floats(yd)}",
                  "end"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"reference: {len(cases)} cases ({hashed_path} with kernels {library_path()}, "
          f"ai_edge_litert {ai_edge_litert.__version__}) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
