"""Which layers of a Keras model the compression methods can replace.

One place for the rules every whole-model API (``compress`` for HashedNets and
FreshNets, ``compress_smh`` for SMH) applies to the layers it walks.
"""

from __future__ import annotations

import keras


def replaceable_kind(layer):
    """``(kind, reason)``: ``"dense"`` or ``"conv"`` if a compressed twin can
    replace ``layer``; otherwise ``(None, reason)`` for a Dense/Conv2D variant
    no twin represents, or ``(None, None)`` for any other layer."""
    config = layer.get_config()
    if type(layer) is keras.layers.Dense:
        if config.get("lora_rank"):
            return None, "LoRA-enabled Dense"
        return "dense", None
    if type(layer) is keras.layers.Conv2D:
        if config.get("groups", 1) != 1:
            return None, "grouped Conv2D (groups > 1)"
        if config.get("lora_rank"):
            return None, "LoRA-enabled Conv2D"
        if max(config["strides"]) > 1 and max(config["dilation_rate"]) > 1:
            return None, "Conv2D with both strides and dilation > 1"
        return "conv", None
    return None, None


def has_kernel(layer) -> bool:
    """Whether a layer holds a weight matrix (not just norm scales or biases)."""
    return any(w.path.split("/")[-1] in ("kernel", "depthwise_kernel", "embeddings",
                                         "pointwise_kernel") for w in layer.weights)


def is_sequential_or_functional(model) -> bool:
    """Whether ``model`` can be rebuilt layer by layer (not a subclassed model)."""
    return isinstance(model, keras.Model) and (
        isinstance(model, keras.Sequential) or getattr(model, "_is_graph_network", False)
        or type(model).__name__ == "Functional")
