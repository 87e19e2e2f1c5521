"""The Android demo's native library in the Python interpreter (host test, part a).

  python android_demo/host_test/python_check.py --jni-lib <build>/libhk_jni.so \
      --assets android_demo/app/src/main/assets --out <build>/reference.txt

``libhk_jni.so`` is the one native library the app loads (the kernels and the
JNI bridge, built from app/src/main/cpp/CMakeLists.txt). It also exports the
TFLite delegate-plugin entry points, so here ai_edge_litert's Interpreter
loads that very file with ``load_delegate`` -- the delegate the app attaches
with ``Interpreter.Options.addDelegate`` -- and runs the bundled models:

* ``hashed.tflite`` through the app's library matches ``dense.tflite`` (the
  same network with its weights written out, run without any custom op)
  within 1e-5 on every bundled test image and on random inputs, predicts each
  image as manifest.json says, and equals the installed Python package's
  kernels (``hashed_keras.lite.library_path()``) exactly;
* on the fly (the delegate option ``weights = on_the_fly``, what
  ``HkNative.createDelegate(..., onTheFly = true)`` passes) it gives the
  rebuilt mode's outputs within 1e-5 relative;
* without the delegate ``hashed.tflite`` does not run;
* the delegate's cap ``max_virtual_weights`` below the model's size makes
  allocation fail with one line naming the option.

Exits 1 on any failed check. Writes, for HostTest.java (part b), the inputs
and outputs as text:

  meta <key> <value...>
  xxh32 <key> <seed> <hash>               (unsigned 32-bit)
  case <kind> <name> <label>              kind: image | random; label -1 if none
  input <n> <floats>
  hashed <n> <floats>                     (through libhk_jni.so)
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

ON_THE_FLY = {"weights": "on_the_fly"}  # HkNative.createDelegate(..., onTheFly = true)


def read_png_gray8(path) -> np.ndarray:
    """Decodes an 8-bit greyscale, non-interlaced PNG (as make_assets.py writes)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
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
        line = raw[y * (width + 1) : (y + 1) * (width + 1)]
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


FAILURES: list[str] = []


def check(ok: bool, what: str) -> None:
    if not ok:
        FAILURES.append(what)
        print(f"FAIL {what}")


def classify_drawings(args, jni_lib) -> int:
    """The app's drawing path end to end: inputs Preprocess.fromDrawing made
    from the test images drawn on a canvas (HostTest.java --drawings), run
    through hashed.tflite with libhk_jni.so; prints how many get their label."""
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    assets = Path(args.assets)
    manifest = json.loads((assets / "manifest.json").read_text())
    shape = manifest["input"]["shape"]
    expected = {i["file"]: i.get("hashed_prediction") for i in manifest["test_images"]}
    hashed = Interpreter(
        model_path=str(assets / manifest["models"]["hashed"]["file"]),
        num_threads=1,
        experimental_delegates=[load_delegate(jni_lib)],
    )
    recognised = total = 0
    for line in Path(args.drawings).read_text().splitlines():
        kind, name, label, n, *values = line.split()
        if kind != "drawing":
            continue
        x = np.asarray([float(v) for v in values], np.float32)
        check(x.size == int(n) and x.size == int(np.prod(shape)), f"{name}: {x.size} values")
        predicted = int(np.argmax(run(hashed, x.reshape(shape))))
        total += 1
        recognised += int(predicted == int(label))
        if predicted != int(label):
            print(
                f"  drawn {name} classified as {predicted} (image: "
                f"{expected.get(name)}, label {label})"
            )
    # Not every drawing can match: the drawing path boxes the ink and centres
    # it (MNIST's convention), which the 8x8 digits' frames do not follow.
    print(
        f"drawings through Preprocess.fromDrawing + libhk_jni.so: {recognised}/{total} recognised"
    )
    check(total > 0, "no drawings")
    return 1 if FAILURES else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jni-lib", required=True, help="libhk_jni.so built by the app's CMake")
    p.add_argument("--assets", required=True)
    p.add_argument(
        "--drawings",
        default=None,
        help="only classify the drawings HostTest.java wrote (see classify_drawings)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--random", type=int, default=8, help="random inputs in [0, 1)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter, load_delegate

    from hashed_keras import hashing
    from hashed_keras.lite import library_path

    jni_lib = str(Path(args.jni_lib).resolve())
    if args.drawings:
        return classify_drawings(args, jni_lib)
    assets = Path(args.assets)
    manifest = json.loads((assets / "manifest.json").read_text())
    shape = manifest["input"]["shape"]
    levels = manifest["normalisation"]["levels"]
    hashed_path = str(assets / manifest["models"]["hashed"]["file"])
    dense_path = str(assets / manifest["models"]["dense"]["file"])
    # The app's route: the delegate from the app's own library, with the app's
    # caps (DemoViewModel.MAX_VIRTUAL_WEIGHTS / MAX_REBUILD_BYTES, passed by
    # HkNative.createDelegate as these plugin options), attached to the
    # Interpreter before it allocates (ModifyGraphWithDelegate).
    app_caps = {"max_virtual_weights": str(16 << 20), "max_rebuild_bytes": str(128 << 20)}
    hashed = Interpreter(
        model_path=hashed_path,
        num_threads=1,
        experimental_delegates=[load_delegate(jni_lib, options=app_caps)],
    )
    dense = Interpreter(model_path=dense_path, num_threads=1)
    # The Python package's own build of the same kernel sources.
    package = Interpreter(
        model_path=hashed_path,
        num_threads=1,
        experimental_delegates=[load_delegate(str(library_path()))],
    )

    cases = []
    expected = {}
    for image in manifest["test_images"]:
        gray = read_png_gray8(assets / image["file"])
        cases.append(
            ("image", image["file"], image["label"], normalise(gray, levels).reshape(shape))
        )
        expected[image["file"]] = image.get("hashed_prediction")
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        cases.append(("random", f"random_{i}", -1, rng.random(shape, dtype=np.float32)))

    keys = [0, 1, 2, 1000, 2**31 + 5, 2**32 - 1]
    seeds = [0, 1, 123456789, 2**32 - 1]
    lines = [
        f"meta runtime ai_edge_litert {ai_edge_litert.__version__}",
        f"meta delegate {jni_lib}",
        "meta shape " + " ".join(str(d) for d in shape),
    ]
    for seed in seeds:
        hashes = hashing.xxh32(np.asarray(keys, np.uint32), seed)
        lines += [f"xxh32 {k} {seed} {int(h)}" for k, h in zip(keys, hashes)]
    worst_dense = worst_package = 0.0
    same_class = 0
    for kind, name, label, x in cases:
        yh, yd, yp = run(hashed, x), run(dense, x), run(package, x)
        d_dense = float(np.max(np.abs(yh - yd)))
        d_package = float(np.max(np.abs(yh - yp)))
        worst_dense, worst_package = max(worst_dense, d_dense), max(worst_package, d_package)
        check(d_dense <= 1e-5, f"{name}: |hashed via libhk_jni.so - dense| = {d_dense:.3g} > 1e-5")
        check(
            d_package == 0.0,
            f"{name}: libhk_jni.so and the package's kernels differ by {d_package:.3g}",
        )
        same_class += int(np.argmax(yh) == np.argmax(yd))
        if kind == "image" and expected.get(name) is not None:
            check(
                int(np.argmax(yh)) == expected[name],
                f"{name}: predicted {int(np.argmax(yh))}, manifest says {expected[name]}",
            )
        lines += [
            f"case {kind} {name} {label}",
            f"input {x.size} {floats(x)}",
            f"hashed {yh.size} {floats(yh)}",
            f"dense {yd.size} {floats(yd)}",
            "end",
        ]
    print(
        f"hashed.tflite via load_delegate(libhk_jni.so, the app's caps) in ai_edge_litert "
        f"{ai_edge_litert.__version__}: {len(cases)} cases, max |hashed - dense| = "
        f"{worst_dense:.3g} (tolerance 1e-5), max |app library - package kernels| = "
        f"{worst_package:.3g}, same class {same_class}/{len(cases)}"
    )

    # The on-the-fly mode (HkNative.createDelegate(..., onTheFly = true) passes
    # weights=on_the_fly): the same outputs as the rebuilt weights, 1e-5 relative.
    fly = Interpreter(
        model_path=hashed_path,
        num_threads=1,
        experimental_delegates=[load_delegate(jni_lib, options={**app_caps, **ON_THE_FLY})],
    )
    worst_fly = 0.0
    for _, name, _, x in cases:
        yh, yf = run(hashed, x), run(fly, x)
        error = float(np.max(np.abs(yf - yh))) / max(float(np.max(np.abs(yh))), 1e-6)
        worst_fly = max(worst_fly, error)
        check(error <= 1e-5, f"{name}: on the fly differs from rebuilt by {error:.3g} (relative)")
    print(
        f"hashed.tflite on the fly via libhk_jni.so: {len(cases)} cases, max relative "
        f"|on the fly - rebuilt| = {worst_fly:.3g} (tolerance 1e-5)"
    )

    # Without the delegate the hashed model must not run.
    try:
        run(Interpreter(model_path=hashed_path, num_threads=1), cases[0][3])
        bare = None
    except (RuntimeError, ValueError) as e:
        bare = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
    check(bare is not None, "hashed.tflite ran without the delegate")
    print(f"hashed.tflite without the delegate: {bare}")

    # The cap: a model needing more virtual weights than allowed is refused
    # with one line naming the option (checked only if the kernels know it).
    try:
        capped = load_delegate(jni_lib, options={"max_virtual_weights": "1000"})
    except (RuntimeError, ValueError) as e:
        capped = None
        print(f"max_virtual_weights not supported by these kernels ({e}); cap not checked")
    if capped is not None:
        try:
            run(
                Interpreter(model_path=hashed_path, num_threads=1, experimental_delegates=[capped]),
                cases[0][3],
            )
            message = None
        except (RuntimeError, ValueError) as e:
            message = str(e)
        check(
            message is not None and "max_virtual_weights" in message,
            f"max_virtual_weights=1000 did not refuse the model: {message!r}",
        )
        first = next((s for s in (message or "").splitlines() if "max_virtual_weights" in s), "")
        print(f"hashed.tflite with max_virtual_weights=1000: {first.strip()}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"reference: {len(cases)} cases -> {out}")
    if FAILURES:
        print(f"python check: {len(FAILURES)} failed")
        return 1
    print("python check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
