"""Converts a trained model.keras to a .tflite that stores only the shared variables.

  python -m pipelines.convert --model runs/x/model.keras --out runs/x/model.tflite \
      [--dense_out runs/x/dense.tflite] [--dataset digits] [--shared_dtype int8]

The file is verified against the Keras model (through the kernels) before it is
written; a per-layer size table is printed. ``--dense`` writes the plain dense
.tflite to ``--out`` instead.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import app, flags

import pipelines
from hk_experiments import data

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The .keras model.", required=True)
flags.DEFINE_string("out", None, "Output .tflite path.", required=True)
flags.DEFINE_bool("dense", False, "Write TFLite's plain dense conversion instead.")
flags.DEFINE_enum(
    "shared_dtype",
    "float32",
    ["float32", "int8"],
    "Store the shared variables (buckets, SMH factors) as float32 or as int8 "
    "with a per-tensor scale (about 4x smaller).",
)
flags.DEFINE_string("dense_out", None, "Also write the dense .tflite here, for comparison.")
flags.DEFINE_enum(
    "dataset",
    None,
    list(data.DATASETS),
    "Verify on this data set's test images (default: random inputs).",
)
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_integer("num_samples", 64, "Examples used to verify the conversion.")
flags.DEFINE_float("tolerance", 1e-5, "Largest accepted relative difference from Keras.")


def _load_keras_model(path):
    """The model at ``path``, or exit with one line saying why it cannot be read."""
    import zipfile

    import keras

    from hashed_keras import layers, smh  # noqa: F401  (register the layers for loading)

    if not os.path.exists(path):
        sys.exit(f"error: --model {path}: no such file; check the path.")
    if os.path.isdir(path) or not zipfile.is_zipfile(path):
        sys.exit(
            f"error: --model {path}: not a Keras 3 model file (a .keras file is a zip "
            f"archive written by model.save('model.keras'))."
        )
    try:
        return keras.models.load_model(path)
    except Exception as error:  # a damaged archive or an unknown layer
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        sys.exit(
            f"error: --model {path}: cannot be loaded ({type(error).__name__}: {first[:300]})."
        )


def main(argv):
    del argv
    from hashed_keras import lite

    model = _load_keras_model(FLAGS.model)
    samples = None
    if FLAGS.dataset:
        dataset = data.load_or_exit(FLAGS.dataset, FLAGS.data_dir)
        samples = dataset.x_test[: FLAGS.num_samples]
        samples = np.asarray(samples, np.float32)
    outputs = [(FLAGS.out, FLAGS.dense)]
    if FLAGS.dense_out:
        outputs.append((FLAGS.dense_out, True))
    reports = []
    for path, dense in outputs:
        try:
            # LiteRT's "Created TensorFlow Lite XNNPACK delegate" (the check runs
            # the file) only if the conversion fails.
            with pipelines.stderr_shown_on_failure():
                report = lite.convert(
                    model,
                    path,
                    dense=dense,
                    sample_inputs=samples,
                    shared_dtype="float32" if dense else FLAGS.shared_dtype,
                    num_samples=FLAGS.num_samples,
                    tolerance=FLAGS.tolerance,
                )
        except lite.ConversionError as error:
            sys.exit(f"error: converting {FLAGS.model} to {path} failed: {error}")
        print(("dense " if dense else "") + "conversion:")
        print(report.table())
        if not dense and report.compressed_layers == 0:
            print(
                f"warning: {FLAGS.model} has no hashed, FreshNets or SMH layer, so nothing "
                f"was compressed: {path} is a plain dense .tflite. Compress the model first "
                f"(hashed_keras.compress, or pipelines.train --method hashed).",
                file=sys.stderr,
            )
        reports.append(report)
    if len(reports) == 2:
        ratio = reports[1].file_bytes / reports[0].file_bytes
        print(
            f"\n{reports[0].path}: {reports[0].file_bytes:,} B; dense {reports[1].path}: "
            f"{reports[1].file_bytes:,} B; {ratio:.1f}x smaller"
        )
    print(json.dumps({r.path: r.file_bytes for r in reports}))


if __name__ == "__main__":
    app.run(main)
