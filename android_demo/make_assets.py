"""The Android demo's assets: a compressed model, its dense twin, a manifest, test images.

  python android_demo/make_assets.py            # mlp3, HashedNets 1/8, digits (8x8), 30 epochs
  python android_demo/make_assets.py --model cnn --dataset fashion_mnist --epochs 10
  python android_demo/make_assets.py --keras runs/demo/hashed/model.keras   # no training

(``python -m android_demo.make_assets`` works as well, from the repository root.)

Trains a zoo model with a compressed method (or takes a trained ``.keras``),
converts it twice with :func:`hashed_keras.lite.convert` -- ``hashed.tflite``
stores only the shared variables (custom operators rebuilt on device by the
hashed_keras kernels), ``dense.tflite`` is the same network with its weights
written out (``dense=True``); the converter checks both against Keras -- and
writes into ``android_demo/app/src/main/assets``:

* ``hashed.tflite``, ``dense.tflite``;
* ``test_images/test_<i>_label_<y>.png``: one test-split image per class, 8-bit
  grey at the model's resolution (bright ink, ``round(255 x)``);
* ``manifest.json``: labels, input shape, normalisation, preprocessing of
  drawings, the files' sizes and test accuracies, and each test image's
  expected prediction.

Both files are evaluated by the TFLite interpreter (ai_edge_litert, with the
kernels) on the whole test split before the manifest is written.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import zlib
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_DIR.parent
if str(REPO_ROOT) not in sys.path:  # `python android_demo/make_assets.py` from anywhere
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_ASSETS = DEMO_DIR / "app" / "src" / "main" / "assets"
MANIFEST_FORMAT = 1
# Quantisation levels of each data set's pixels (see Preprocess.java).
LEVELS = {"digits": 16, "fashion_mnist": 255, "mnist": 255}
# Drawings: the ink's bounding box is scaled into a fit x fit square (digits
# fill their 8x8 frame; MNIST digits sit in a 20x20 box of the 28x28 frame).
FIT = {"digits": 8, "fashion_mnist": 24, "mnist": 20}
METHODS = ("hashed", "freshnets", "smh")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="mlp3", help="zoo architecture (mlp3, cnn, lenet, ...)")
    p.add_argument(
        "--method",
        default="hashed",
        choices=METHODS,
        help="compression method of the trained model",
    )
    p.add_argument("--compression", type=float, default=1 / 8, help="stored fraction")
    p.add_argument("--dataset", default="digits", choices=sorted(LEVELS))
    p.add_argument("--data_dir", default=None, help="directory of MNIST-format IDX files")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--keras", default=None, help="use this trained .keras model instead of training one"
    )
    p.add_argument("--out", default=str(DEFAULT_ASSETS), help="the app's assets directory")
    p.add_argument("--images_per_class", type=int, default=1, help="bundled test images per class")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's and LiteRT's logs (kept off the terminal unless it fails)",
    )
    return p.parse_args(argv)


def png_gray8(pixels) -> bytes:
    """A minimal 8-bit greyscale PNG of a (H, W) uint8 array."""
    import numpy as np

    pixels = np.asarray(pixels, np.uint8)
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def run_tflite(path, x):
    """Outputs of a .tflite for each example of ``x`` (batch 1), kernels loaded."""
    import numpy as np

    from hashed_keras.lite import make_interpreter

    interpreter = make_interpreter(str(path), runtime="ai_edge_litert")
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    outputs = []
    for example in x:
        interpreter.set_tensor(inp["index"], np.asarray(example[None], np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(outputs)


def train_or_load(args, dataset):
    import keras

    from hashed_keras import layers, smh  # noqa: F401  (register the layers for loading)
    from hk_experiments import training

    if args.keras:
        return keras.models.load_model(args.keras), f"loaded from {args.keras}", None
    with tempfile.TemporaryDirectory(prefix="hk_android_assets_") as work:
        metrics = training.train(
            training.TrainConfig(
                model=args.model,
                method=args.method,
                compression=args.compression,
                dataset=args.dataset,
                data_dir=args.data_dir,
                epochs=args.epochs,
                seed=args.seed,
                out=work,
                verbose=0,
            )
        )
        model = keras.models.load_model(Path(work) / "model.keras")
    how = (
        f"{args.model} {args.method} {args.compression:g}, {args.epochs} epochs on "
        f"{args.dataset}, seed {args.seed}"
    )
    return model, how, metrics


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np

    from hashed_keras import lite
    from hashed_keras.lite import measure
    from hk_experiments import data

    out = Path(args.out)
    images_dir = out / "test_images"
    images_dir.mkdir(parents=True, exist_ok=True)
    dataset = data.load_or_exit(args.dataset, args.data_dir)
    height, width, channels = dataset.input_shape
    if channels != 1:
        raise SystemExit(f"the demo handles one-channel images; {args.dataset} has {channels}")

    model, how, metrics = train_or_load(args, dataset)
    print(f"model: {how}", flush=True)

    sample = dataset.x_test[:64]
    hashed_path, dense_path = out / "hashed.tflite", out / "dense.tflite"
    report = lite.convert(model, hashed_path, sample_inputs=sample)
    print(report.table())
    dense_report = lite.convert(model, dense_path, dense=True, sample_inputs=sample)
    for path in (hashed_path, dense_path):
        path.chmod(0o644)  # the converter writes through a private temporary file
    print(f"dense twin: {dense_path} {dense_report.file_bytes:,} B", flush=True)

    evaluation = {}
    for name, path in (("hashed", hashed_path), ("dense", dense_path)):
        m = measure.measure(
            path, dataset.x_test, dataset.y_test, latency_runs=50, runtime="ai_edge_litert"
        )
        evaluation[name] = m
        print(
            f"{name}: accuracy {m['accuracy']:.4f} on {m['examples']} test images, "
            f"{m['file_bytes']:,} B, median latency {m['latency_ms_median']:.3f} ms"
        )

    # The bundled test images: the first `images_per_class` of each class.
    for stale in images_dir.glob("test_*.png"):
        stale.unlink()
    picks = []
    for label in range(dataset.num_classes):
        picks += [int(i) for i in np.flatnonzero(dataset.y_test == label)[: args.images_per_class]]
    x_pick = dataset.x_test[picks]
    p_hashed = run_tflite(hashed_path, x_pick)
    p_dense = run_tflite(dense_path, x_pick)
    images = []
    for n, (index, x, ph, pd) in enumerate(zip(picks, x_pick, p_hashed, p_dense)):
        label = int(dataset.y_test[index])
        gray = np.rint(x[..., 0] * 255.0).astype(np.uint8)
        name = f"test_images/test_{n}_label_{label}.png"
        (out / name).write_bytes(png_gray8(gray))
        images.append(
            {
                "file": name,
                "label": label,
                "test_index": index,
                "hashed_prediction": int(ph.argmax()),
                "hashed_confidence": float(ph.max()),
                "dense_prediction": int(pd.argmax()),
                "dense_confidence": float(pd.max()),
            }
        )
    agreement = float(np.max(np.abs(p_hashed - p_dense)))

    ops = sorted({row.type for row in report.layers if row.note != "dense"})
    manifest = {
        "format": MANIFEST_FORMAT,
        "title": f"{args.model} on {args.dataset}",
        "generated_by": " ".join(
            ["python android_demo/make_assets.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "model": {
            "how": how,
            "architecture": model.name,
            "method": args.method if not args.keras else "from file",
            "compression": args.compression if not args.keras else None,
        },
        "dataset": args.dataset,
        "labels": list(dataset.class_names),
        "input": {"shape": [1, height, width, 1], "dtype": "float32", "layout": "NHWC"},
        "normalisation": {
            "range": [0.0, 1.0],
            "ink": "bright",
            "levels": LEVELS[args.dataset],
            "rule": "x = round(grey / 255 * levels) / levels, grey in 0..255 with bright ink "
            "on a dark background (test images store round(255 x))",
        },
        "drawing": {
            "fit": FIT[args.dataset],
            "threshold": 0.1,
            "rule": "bounding box of the ink, padded to a square, area-averaged "
            "into fit x fit cells centred in the input, then quantised",
        },
        "models": {
            "hashed": {
                "file": hashed_path.name,
                "bytes": hashed_path.stat().st_size,
                "needs_kernels": True,
                "stored_variable_bytes": report.stored_bytes,
                "test_accuracy": evaluation["hashed"]["accuracy"],
                "host_latency_ms_median": evaluation["hashed"]["latency_ms_median"],
            },
            "dense": {
                "file": dense_path.name,
                "bytes": dense_path.stat().st_size,
                "needs_kernels": False,
                "test_accuracy": evaluation["dense"]["accuracy"],
                "host_latency_ms_median": evaluation["dense"]["latency_ms_median"],
            },
        },
        "compressed_layer_types": ops,
        "test_examples": int(len(dataset.x_test)),
        "max_abs_difference_hashed_vs_dense_on_test_images": agreement,
        "keras_test_accuracy": None if metrics is None else metrics["test_accuracy"],
        "test_images": images,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    h, d = manifest["models"]["hashed"]["bytes"], manifest["models"]["dense"]["bytes"]
    print(
        f"\nwrote {out}: hashed.tflite {h:,} B, dense.tflite {d:,} B ({d / h:.1f}x), "
        f"{len(images)} test images, manifest.json"
    )
    return 0


if __name__ == "__main__":
    import pipelines  # keeps TensorFlow's and LiteRT's logs off the terminal (see --verbose)

    with pipelines.stderr_shown_on_failure():
        code = main()
    sys.exit(code)
