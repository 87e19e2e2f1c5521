"""Behaviour every family of compressed layers shares, tested once per family."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hashed_keras.layers import FreshConv2D, HashedConv2D

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("conv", [HashedConv2D, FreshConv2D])
def test_conv_channels_first_matches_channels_last(conv):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 7, 7, 2)).astype("float32")
    last = conv(3, 3, compression=0.5, seed=8, padding="same")
    first = conv(3, 3, compression=0.5, seed=8, padding="same", data_format="channels_first")
    last.build(x.shape)
    first.build((2, 2, 7, 7))
    last.set_weights([rng.normal(size=w.shape).astype("float32") for w in last.weights])
    first.set_weights(last.get_weights())
    out_first = first(np.transpose(x, (0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(
        np.transpose(out_first, (0, 2, 3, 1)), last(x).numpy(), rtol=1e-5, atol=1e-5
    )


# The model of each family, built inside the strategy's scope; and the shapes of all
# its variables: the shared ones (buckets, SMH factors) and biases or scales only.
FAMILIES = {
    "hashed": (
        """keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                   HashedDense(16, compression=0.5, seed=1, activation="tanh"),
                   HashedDense(3, buckets=8, seed=2)])""",
        [[288], [16], [8], [3]],
    ),
    "freshnets": (
        """keras.Sequential([keras.Input((6, 6, 1)),
                      FreshConv2D(4, 3, compression=0.5, seed=1, activation="relu"),
                      keras.layers.Flatten(), HashedDense(3, compression=0.5, seed=2)])""",
        [[18], [4], [96], [3]],
    ),
    "smh": (
        """compress_smh(keras.Sequential([keras.Input((6, 6, 1)),
                   keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                   keras.layers.Flatten(), keras.layers.Dense(3, name="fc")]),
                fraction=0.7, seed=1)""",
        None,
    ),  # U, V, two scales: checked below
}

MIRRORED_SCRIPT = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from hashed_keras import summarize
from hashed_keras.layers import FreshConv2D, HashedDense
from hashed_keras.smh import compress_smh

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6, 6, 1)).astype("float32")
y = rng.integers(0, 3, 64)

def run(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = {build}
        model.compile(keras.optimizers.SGD(0.05),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    init = [w.copy() for w in model.get_weights()]
    loss = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
    stored = summarize(model, print_fn=None)[-1]["stored_size"]
    return strategy.num_replicas_in_sync, loss, init, model.get_weights(), stored

n2, loss2, init2, w2, stored2 = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
n1, loss1, init1, w1, stored1 = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
print("RESULT " + json.dumps({{
    "replicas": n2, "loss": loss2, "stored_size": [stored1, stored2],
    "init_equal": all(np.array_equal(a, b) for a, b in zip(init1, init2)),
    "max_diff": max(float(np.abs(a - b).max()) for a, b in zip(w1, w2)),
    "shapes": [list(w.shape) for w in w2]}}))
"""


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_mirrored_strategy_two_cpus(family):
    build, shapes = FAMILIES[family]
    script = MIRRORED_SCRIPT.format(build=textwrap.dedent(build))
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    assert result["replicas"] == 2
    assert result["loss"][-1] < result["loss"][0]
    if shapes is None:
        m_n = result["shapes"][0]
        shapes = [m_n, m_n, [], []]
    assert result["shapes"] == shapes  # the shared variables and biases/scales only
    assert result["stored_size"][0] == result["stored_size"][1]
    assert result["init_equal"]
    assert result["max_diff"] < 1e-5  # the same training as on one device
