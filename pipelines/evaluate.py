"""Evaluates .tflite files through the interpreter, side by side.

  python -m pipelines.evaluate --tflite runs/x/model.tflite --dataset digits \
      [--compare runs/x/dense.tflite] [--json runs/x/eval.json]

For each file: test accuracy computed by the TFLite interpreter (with the
hashed_keras kernels), file size, gzip size, median batch-1 latency, interpreter
setup time and peak memory of a fresh process that runs only the inference.
"""

from __future__ import annotations

import json

from absl import app, flags

import pipelines
from hk_experiments import data
from pipelines import model_files

FLAGS = flags.FLAGS
flags.DEFINE_string("tflite", None, "The .tflite to evaluate.", required=True)
flags.DEFINE_string("compare", None, "Another .tflite (e.g. the dense one) to put beside it.")
flags.DEFINE_enum("dataset", "digits", list(data.DATASETS), "Data set (its test split).")
flags.DEFINE_string("data_dir", None, "Directory of MNIST-format IDX files.")
flags.DEFINE_integer("limit", None, "Evaluate on the first N test examples only.")
flags.DEFINE_integer("num_threads", 1, "Interpreter threads.")
flags.DEFINE_integer("latency_runs", 200, "Batch-1 invocations timed per file.")
flags.DEFINE_string("json", None, "Also write the results here.")
flags.DEFINE_bool(
    "verify",
    True,
    "Verify each file (hashed_keras.lite.verify) before the "
    "runtime sees it; --noverify only for files you trust.",
)

_COLUMNS = [
    ("accuracy", "accuracy", "{:.4f}"),
    ("file_bytes", "file B", "{:,}"),
    ("gzip_bytes", "gzip B", "{:,}"),
    ("latency_ms_median", "latency ms", "{:.3f}"),
    ("setup_ms", "setup ms", "{:.1f}"),
    ("peak_rss_over_baseline_bytes", "peak mem B", "{:,}"),
]


def format_table(results) -> str:
    """Results side by side, one column per file."""
    names = [r["path"] for r in results]
    width = max(12, *(len(n) for n in names))
    lines = [f"{'':<12} " + " ".join(f"{n:>{width}}" for n in names)]
    for key, label, fmt in _COLUMNS:
        lines.append(f"{label:<12} " + " ".join(f"{fmt.format(r[key]):>{width}}" for r in results))
    return "\n".join(lines)


def main(argv):
    del argv
    from hk_experiments import measure

    paths = [FLAGS.tflite] + ([FLAGS.compare] if FLAGS.compare else [])
    # One line and exit status 1 for a missing or invalid file, or one that
    # does not take this data set's examples, before any work.
    example_shape = data.load_or_exit(FLAGS.dataset, FLAGS.data_dir).x_test.shape[1:]
    model_files.check_tflite_files(
        paths, verify=FLAGS.verify, example_shape=example_shape, dataset=FLAGS.dataset
    )
    results = []
    for path in paths:
        print(f"evaluating {path} ...", flush=True)
        # LiteRT's "Created TensorFlow Lite XNNPACK delegate" only if it fails.
        with pipelines.stderr_shown_on_failure():
            results.append(
                measure.measure_in_fresh_process(
                    path,
                    FLAGS.dataset,
                    FLAGS.data_dir,
                    limit=FLAGS.limit,
                    num_threads=FLAGS.num_threads,
                    latency_runs=FLAGS.latency_runs,
                    verify=FLAGS.verify,
                )
            )
    print(
        f"\n{FLAGS.dataset} test set, {results[0]['examples']} examples, "
        f"{FLAGS.num_threads} thread(s)"
    )
    print(format_table(results))
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
