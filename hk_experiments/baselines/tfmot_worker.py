"""tfmot magnitude pruning / weight clustering of a zoo model, in a process of its own.

    python -m hk_experiments.baselines.tfmot_worker --model mlp3 --method prune \\
        --dataset digits --epochs 2 --sparsity 0.875 --out runs/tfmot_prune

tensorflow-model-optimization 0.8.1 works only with legacy Keras (``tf_keras``),
selected by ``TF_USE_LEGACY_KERAS=1`` *before* TensorFlow is imported; the
rest of the project is Keras 3. So this module imports only Keras-free modules
(:mod:`hk_experiments.zoo`, :mod:`hk_experiments.data`) at import time, and
:func:`main` sets the variable first. It refuses
(:class:`TensorFlowAlreadyImported`) when TensorFlow was already imported
without it. :func:`hk_experiments.baselines.tfmot.run_tfmot` runs it in a
process of its own.

Steps: build the tf_keras mirror of ``hk_experiments.models.build(model,
"dense")`` (same layer names and sizes, see :func:`build_model`), train it
dense (Adam, sparse categorical cross-entropy, as ``hk_experiments.training``),
wrap it (``prune_low_magnitude`` with a polynomial or constant schedule, or
``cluster_weights`` with k-means++ centroids), fine-tune, strip the wrappers,
convert with ``tf.lite.TFLiteConverter`` to ``OUT/model.tflite``, evaluate
that file with the TFLite interpreter on the *whole* test split, and write
``OUT/metrics.json``.

Data: :mod:`hk_experiments.data` imports only numpy (Keras only inside its
keras.datasets fallback for MNIST without ``--data_dir``), so the data sets,
splits and ``[0, 1]`` scaling are exactly those of the rest of the project.
The architectures are :data:`hk_experiments.zoo.ARCHS`, as in
:mod:`hk_experiments.models`. ``--limit N`` keeps N training examples, the
same ones as ``data.load(..., limit=N, seed=SEED)`` (the first N of a
permutation drawn with ``--seed``); the test split is never subsampled.

Exit codes: 0 done; 1 error; 2 bad flags; 3 tf_keras or tfmot not installed;
4 TensorFlow imported too early.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

from hk_experiments import data, zoo

MODELS = tuple(zoo.ARCHS)
METHODS = ("prune", "cluster")
DATASETS = data.DATASETS
SCHEDULES = ("polynomial", "constant")
TFLITE_OPTIMIZATIONS = ("none", "dynamic", "sparsity")
INPUT_SHAPES = {"digits": (8, 8, 1), "fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1)}

EXIT_MISSING = 3
EXIT_TF_IMPORTED = 4
INSTALL_HINT = (
    "pip install --no-deps tf-keras==2.21.0 tensorflow-model-optimization==0.8.1 "
    "(or `pip install --no-deps -r requirements-baselines.txt` in the repository; "
    "--no-deps because tf-keras depends on the full `tensorflow` wheel, which "
    "would be installed on top of tensorflow-cpu)"
)


class TensorFlowAlreadyImported(RuntimeError):
    """TensorFlow was imported before TF_USE_LEGACY_KERAS=1 could be set."""


def _log(message):
    print(f"[tfmot_worker] {message}", flush=True)


def _import_tensorflow():
    """Sets TF_USE_LEGACY_KERAS=1 and imports TF, tf_keras and tfmot.

    Returns:
      ``(tf, tf_keras, tfmot)``.

    Raises:
      TensorFlowAlreadyImported: TensorFlow is already imported without legacy
        Keras in this process.
      ImportError: tf_keras or tensorflow_model_optimization is missing.
    """
    tf = sys.modules.get("tensorflow")
    if tf is not None and not getattr(tf, "_tf_uses_legacy_keras", False):
        raise TensorFlowAlreadyImported(
            "TensorFlow was imported before hk_experiments.baselines.tfmot_worker could set "
            "TF_USE_LEGACY_KERAS=1, so tf.keras is Keras 3 and tfmot 0.8.1 cannot run here. "
            "Run the worker in a process of its own: `python -m "
            "hk_experiments.baselines.tfmot_worker ...` or "
            "hk_experiments.baselines.tfmot.run_tfmot(...), not from a process that imported "
            "tensorflow, keras or hashed_keras."
        )
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    missing = [
        name
        for name in ("tf_keras", "tensorflow_model_optimization")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ImportError(f"{' and '.join(missing)} not installed: {INSTALL_HINT}")
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    return tf, tf_keras, tfmot


def load_data(name, data_dir=None, limit=None, seed=0):
    """``hk_experiments.data.load(name, data_dir)``, the test split kept whole.

    Returns:
      A ``hk_experiments.data.Dataset`` whose training split is cut to ``limit``
      examples exactly as ``data.load(..., limit=limit, seed=seed)`` does; the
      test split is kept whole.
    """
    if name == "mnist" and data_dir is None:
        raise ValueError(
            "--dataset mnist needs --data_dir here (the keras.datasets "
            "fallback would import Keras 3 into the tf_keras process)."
        )
    dataset = data.load(name, data_dir)
    if limit is not None:
        import numpy as np

        # data._subset's training draw: the first permutation of default_rng(seed).
        keep = np.random.default_rng(seed).permutation(len(dataset.x_train))[:limit]
        dataset = dataclasses.replace(
            dataset, x_train=dataset.x_train[keep], y_train=dataset.y_train[keep]
        )
    return dataset


def build_model(keras, name, input_shape, num_classes=10):
    """The tf_keras mirror of ``hk_experiments.models.build(name, "dense")``.

    Same layer names, sizes, activations and paddings as ``models`` builds
    from :data:`hk_experiments.zoo.ARCHS` at width 1 without dropout.
    """
    arch = zoo.ARCHS[name]
    layers = keras.layers
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, filters in enumerate(arch.convs):
        pad = zoo.conv_padding(arch.pad, *x.shape[1:3])
        x = layers.Conv2D(
            filters, zoo.kernel_size(pad), padding=pad, activation="relu", name=f"conv{i + 1}"
        )(x)
        if min(x.shape[1:3]) >= 2:
            x = layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(arch.dense):
        x = layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{name}_dense")


def describe(keras):
    """``{input_shape: {model: [[layer, kernel shape], ...]}}`` for every model."""
    result = {}
    for shape in sorted(set(INPUT_SHAPES.values())):
        key = "x".join(map(str, shape))
        result[key] = {}
        for name in MODELS:
            model = build_model(keras, name, shape)
            result[key][name] = [
                [layer.name, list(layer.kernel.shape)]
                for layer in model.layers
                if hasattr(layer, "kernel")
            ]
    return result


def layer_stats(model):
    """Per Dense/Conv2D layer: kernel size, nonzero and distinct values; bias size."""
    import numpy as np

    rows = []
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        k = kernel.numpy()
        bias = getattr(layer, "bias", None)
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "kernel_shape": list(k.shape),
                "kernel_params": int(k.size),
                "kernel_nonzero": int(np.count_nonzero(k)),
                "kernel_unique": int(np.unique(k).size),
                "bias_params": 0 if bias is None else int(np.prod(bias.shape)),
            }
        )
    return rows


def _make_interpreter(path, num_threads=None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path), num_threads=num_threads)


def _to_input(batch, detail):
    """Float images as the interpreter's input tensor wants them (int8/uint8: quantized)."""
    import numpy as np

    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.asarray(batch, np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(batch) / scale + zero_point), info.min, info.max).astype(
        dtype
    )


def evaluate_tflite(path, x, y, batch_size=256, num_threads=None):
    """Accuracy of the ``.tflite`` at ``path`` by the stock interpreter."""
    interpreter = _make_interpreter(path, num_threads)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    correct = 0
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        interpreter.resize_tensor_input(inp["index"], list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], _to_input(batch, inp))
        interpreter.invoke()
        pred = interpreter.get_tensor(out["index"]).argmax(axis=-1)
        correct += int((pred == y[start : start + batch_size]).sum())
    return correct / len(x)


def tflite_weight_stats(path):
    """The filters of the file's FULLY_CONNECTED / CONV_2D ops: size, nonzero, distinct.

    Read back from the interpreter, so they show what the artefact itself stores
    (e.g. that the zeros and the clusters survived the conversion).
    """
    import numpy as np

    interpreter = _make_interpreter(path)
    interpreter.allocate_tensors()
    try:
        ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    except AttributeError:  # a runtime without it: no per-tensor check
        return []
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    rows = []
    for op in ops:
        if op["op_name"] not in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        index = int(op["inputs"][1])
        try:
            value = interpreter.get_tensor(index)
        except ValueError:
            continue
        rows.append(
            {
                "op": op["op_name"],
                "name": details[index]["name"],
                "shape": [int(s) for s in value.shape],
                "dtype": np.dtype(value.dtype).name,
                "params": int(value.size),
                "nonzero": int(np.count_nonzero(value)),
                "unique": int(np.unique(value).size),
            }
        )
    return rows


def _sparsity(rows):
    params = sum(r["kernel_params"] for r in rows)
    return 1.0 - sum(r["kernel_nonzero"] for r in rows) / params


def _prune_schedule(tfmot, args, finetune_steps):
    """The pruning schedule and its parameters, scaled to the fine-tuning run.

    tfmot's default ``frequency=100`` never fires in a run of a few hundred
    steps; by default the mask is updated about 20 times, and the polynomial
    ramp (0 -> target) ends at a pruning step 3/4 into fine-tuning.
    """
    last = finetune_steps - 1
    frequency = args.frequency or max(1, last // 20)
    if args.schedule == "constant":
        schedule = tfmot.sparsity.keras.ConstantSparsity(
            args.sparsity, begin_step=args.begin_step, frequency=frequency
        )
        return schedule, {
            "schedule": "constant",
            "begin_step": args.begin_step,
            "frequency": frequency,
        }
    end = args.end_step
    if end is None:
        end = (
            args.begin_step + (max(0, int(0.75 * last) - args.begin_step) // frequency) * frequency
        )
    if end <= args.begin_step:
        raise ValueError(
            f"{finetune_steps} fine-tuning steps are too few for a polynomial schedule "
            f"(end_step {end} <= begin_step {args.begin_step}); train longer or use "
            "--schedule constant."
        )
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=args.sparsity,
        begin_step=args.begin_step,
        end_step=end,
        frequency=frequency,
    )
    return schedule, {
        "schedule": "polynomial",
        "begin_step": args.begin_step,
        "end_step": end,
        "frequency": frequency,
    }


def _convert(tf, model, optimize):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if optimize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif optimize == "sparsity":
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def run(args, argv):
    """The whole run (see the module docstring); returns the metrics dict."""
    started = time.perf_counter()
    phases = {}
    tf, keras, tfmot = _import_tensorflow()

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    phases["import"] = time.perf_counter() - started

    t = time.perf_counter()
    ds = load_data(args.dataset, args.data_dir, args.limit, args.seed)
    phases["data"] = time.perf_counter() - t
    _log(
        f"{args.dataset}: {len(ds.x_train)} train, {len(ds.x_test)} test examples, "
        f"input {ds.input_shape}"
    )

    keras.utils.set_random_seed(args.seed)
    model = build_model(keras, args.model, ds.input_shape, ds.num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t = time.perf_counter()
    _log(f"dense training: {args.model}, {model.count_params():,} parameters, {args.epochs} epochs")
    model.fit(ds.x_train, ds.y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    phases["train"] = time.perf_counter() - t
    dense_accuracy = float(model.evaluate(ds.x_test, ds.y_test, batch_size=256, verbose=0)[1])
    _log(f"dense test accuracy (Keras): {dense_accuracy:.4f}")

    finetune_epochs = args.epochs if args.finetune_epochs is None else args.finetune_epochs
    steps_per_epoch = math.ceil(len(ds.x_train) / args.batch_size)
    finetune_steps = steps_per_epoch * finetune_epochs
    finetune_lr = args.finetune_learning_rate
    if finetune_lr is None:
        finetune_lr = args.learning_rate if args.method == "prune" else args.learning_rate / 10
    callbacks = []
    if args.method == "prune":
        schedule, params = _prune_schedule(tfmot, args, finetune_steps)
        params["target_sparsity"] = args.sparsity
        wrapped = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
        strip = tfmot.sparsity.keras.strip_pruning
    else:
        init = tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS
        params = {"number_of_clusters": args.clusters, "cluster_centroids_init": "KMEANS_PLUS_PLUS"}
        wrapped = tfmot.clustering.keras.cluster_weights(
            model, number_of_clusters=args.clusters, cluster_centroids_init=init
        )
        strip = tfmot.clustering.keras.strip_clustering
    params.update(
        finetune_epochs=finetune_epochs,
        finetune_steps=finetune_steps,
        finetune_learning_rate=finetune_lr,
    )
    wrapped.compile(
        optimizer=keras.optimizers.Adam(finetune_lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    _log(
        f"{args.method} fine-tuning: {finetune_epochs} epochs, "
        f"{json.dumps({k: v for k, v in params.items() if 'finetune' not in k})}"
    )
    t = time.perf_counter()
    if finetune_epochs:
        wrapped.fit(
            ds.x_train,
            ds.y_train,
            batch_size=args.batch_size,
            epochs=finetune_epochs,
            callbacks=callbacks,
            verbose=2,
        )
    phases["finetune"] = time.perf_counter() - t
    stripped = strip(wrapped)
    stripped.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_accuracy = float(stripped.evaluate(ds.x_test, ds.y_test, batch_size=256, verbose=0)[1])
    layers = layer_stats(stripped)

    t = time.perf_counter()
    content = _convert(tf, stripped, args.tflite_optimize)
    path = out / "model.tflite"
    path.write_bytes(content)
    phases["convert"] = time.perf_counter() - t
    t = time.perf_counter()
    accuracy = evaluate_tflite(path, ds.x_test, ds.y_test, num_threads=args.threads or None)
    phases["evaluate"] = time.perf_counter() - t
    tflite_weights = tflite_weight_stats(path)

    all_params = sum(r["kernel_params"] + r["bias_params"] for r in layers)
    metrics = {
        "model": args.model,
        "method": args.method,
        "dataset": args.dataset,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "train_examples": int(len(ds.x_train)),
        "test_examples": int(len(ds.x_test)),
        "params": params,
        "tflite_optimize": args.tflite_optimize,
        "tflite_path": str(path),
        "accuracy": accuracy,
        "keras_accuracy": keras_accuracy,
        "dense_keras_accuracy": dense_accuracy,
        "file_bytes": len(content),
        "gzip_bytes": len(gzip.compress(content, 9)),
        "sparsity": _sparsity(layers),
        "sparsity_all_params": 1.0 - sum(r["kernel_nonzero"] for r in layers) / all_params,
        "max_kernel_unique": max(r["kernel_unique"] for r in layers),
        "layers": layers,
        "tflite_weights": tflite_weights,
        "command": "python -m hk_experiments.baselines.tfmot_worker " + shlex.join(argv[1:]),
        "keras_package": keras.__name__,  # the Keras that built and trained the model
        "versions": {
            "tensorflow": tf.__version__,
            "tf_keras": _version("tf_keras"),
            "tensorflow_model_optimization": tfmot.__version__,
        },
        "phase_seconds": phases,
        "wall_seconds": time.perf_counter() - started,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _log(
        f"done: {path} {metrics['file_bytes']:,} B (gzip -9 {metrics['gzip_bytes']:,} B), "
        f"accuracy {accuracy:.4f} (interpreter, {len(ds.x_test)} examples), sparsity "
        f"{metrics['sparsity']:.4f}, max distinct kernel values "
        f"{metrics['max_kernel_unique']}, {metrics['wall_seconds']:.1f} s"
    )
    return metrics


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _define_flags():
    from absl import flags

    f = flags
    f.DEFINE_enum(
        "model", "mlp3", MODELS, "Zoo model (the dense architecture of hk_experiments.models)."
    )
    f.DEFINE_enum(
        "method",
        "prune",
        METHODS,
        "prune: tfmot magnitude pruning; cluster: tfmot weight clustering.",
    )
    f.DEFINE_enum("dataset", "digits", DATASETS, "Data set (hk_experiments.data).")
    f.DEFINE_string("data_dir", None, "Directory of the four IDX files (fashion_mnist, mnist).")
    f.DEFINE_integer("epochs", 10, "Dense training epochs.", lower_bound=1)
    f.DEFINE_integer(
        "finetune_epochs",
        None,
        "Fine-tuning epochs with the tfmot wrappers (default: --epochs).",
        lower_bound=1,
    )
    f.DEFINE_integer(
        "limit",
        None,
        "Keep this many training examples (the test split is always whole).",
        lower_bound=1,
    )
    f.DEFINE_integer("batch_size", 50, "Batch size.", lower_bound=1)
    f.DEFINE_float("learning_rate", 1e-3, "Adam learning rate of the dense training.")
    f.DEFINE_float(
        "finetune_learning_rate",
        None,
        "Adam learning rate of the fine-tuning "
        "(default: --learning_rate for prune, a tenth of it for cluster).",
    )
    f.DEFINE_float(
        "sparsity",
        0.875,
        "prune: target fraction of zero kernel weights.",
        lower_bound=0.0,
        upper_bound=0.999,
    )
    f.DEFINE_enum(
        "schedule",
        "polynomial",
        SCHEDULES,
        "prune: PolynomialDecay (0 -> target) or ConstantSparsity.",
    )
    f.DEFINE_integer(
        "frequency",
        None,
        "prune: steps between mask updates (default: about "
        "20 updates over the fine-tuning; tfmot's own default, 100, does "
        "nothing in a short run).",
        lower_bound=1,
    )
    f.DEFINE_integer("begin_step", 0, "prune: first pruning step.", lower_bound=0)
    f.DEFINE_integer(
        "end_step",
        None,
        "prune (polynomial): step at which the target is "
        "reached (default: 3/4 into the fine-tuning).",
    )
    f.DEFINE_integer("clusters", 16, "cluster: number_of_clusters per kernel.", lower_bound=2)
    f.DEFINE_enum(
        "tflite_optimize",
        "none",
        TFLITE_OPTIMIZATIONS,
        "Converter optimizations: "
        "none (float32 weights, as tfmot's size tables with gzip), dynamic "
        "(Optimize.DEFAULT: int8 weights) or sparsity (EXPERIMENTAL_SPARSITY).",
    )
    f.DEFINE_integer("threads", 0, "TensorFlow and interpreter threads (0: their default).")
    f.DEFINE_integer("seed", 0, "Seed of the initialisation, shuffling and --limit subset.")
    f.DEFINE_string("out", "runs/tfmot", "Output directory (model.tflite, metrics.json).")
    f.DEFINE_bool(
        "describe",
        False,
        "Print the tf_keras layers of every model for every "
        "input shape as JSON and exit (checks the mirror of hk_experiments.models).",
    )
    return flags.FLAGS


def main(argv):
    from absl import flags, logging

    args = flags.FLAGS
    if not args["verbosity"].present:  # TF's SavedModel export logs a page at INFO
        logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        print(f"unexpected arguments: {argv[1:]}", file=sys.stderr)
        return 2
    try:
        if args.describe:
            _, keras, _ = _import_tensorflow()
            print(json.dumps(describe(keras)), flush=True)
            return 0
        run(args, sys.argv)
    except TensorFlowAlreadyImported as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_TF_IMPORTED
    except ImportError as error:
        if "not installed" in str(error):
            print(f"error: {error}", file=sys.stderr, flush=True)
            return EXIT_MISSING
        raise
    return 0


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
