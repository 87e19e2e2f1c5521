"""Which layers of a Keras model the compression methods can replace.

One place for the rules every whole-model API (``compress`` for HashedNets and
FreshNets, ``compress_smh`` for SMH) applies to the layers it walks.
"""

from __future__ import annotations

import keras

# The constructor arguments of a Conv2D that its compressed twins take as they are.
CONV_KEYS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate")


def make_twin(cls, layer, kind, keys, **kwargs):
    """A ``cls`` standing for ``layer`` (of ``kind``): its shape, the ``keys`` of its
    config, and ``kwargs``."""
    config = layer.get_config()
    shape = ("units",) if kind == "dense" else CONV_KEYS
    return cls(**{k: config[k] for k in shape + tuple(keys) if k in config}, **kwargs)


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
    return any(
        w.path.split("/")[-1] in ("kernel", "depthwise_kernel", "embeddings", "pointwise_kernel")
        for w in layer.weights
    )


def check_rebuildable(model, caller: str, layers: str) -> None:
    """Raises unless ``model`` can be rebuilt layer by layer (not a subclassed model)."""
    if not (
        isinstance(model, keras.Model)
        and (
            isinstance(model, keras.Sequential)
            or getattr(model, "_is_graph_network", False)
            or type(model).__name__ == "Functional"
        )
    ):
        raise ValueError(
            f"{caller}() needs a Sequential or functional keras.Model; subclassed models "
            "cannot be rebuilt layer by layer. Build the model functionally, or use "
            f"{layers} in its definition."
        )


def rewrite(model, replace, call=None, inputs=None, keep_weights=True):
    """A copy of ``model`` in which each layer is ``replace(layer)``: None (a fresh copy
    from its config, with its weights if ``keep_weights``), a new layer, or a list of
    new layers called in a chain. A shared layer is replaced once. ``call(new_layer,
    *args, **kwargs)`` calls a new layer (e.g. with one more input); ``inputs`` are the
    new model's (a Sequential model is then rebuilt as a functional one on them).
    The one rewriter of every ``compress`` variant.
    """
    made, chains = {}, {}

    def clone(layer):
        if id(layer) not in made:
            new = replace(layer)
            copy = new is None
            new = (
                [layer.__class__.from_config(layer.get_config())]
                if copy
                else (list(new) if isinstance(new, (list, tuple)) else [new])
            )
            made[id(layer)] = (layer, new[0], copy)
            chains[id(new[0])] = new[1:]
        return made[id(layer)][1]

    def call_chain(layer, *args, **kwargs):
        outputs = call(layer, *args, **kwargs) if call else layer(*args, **kwargs)
        for following in chains.get(id(layer), ()):
            outputs = following(outputs)
        return outputs

    if isinstance(model, keras.Sequential) and inputs is not None:
        outputs = keras.tree.flatten(inputs)[0]
        for layer in model.layers:
            outputs = call_chain(clone(layer), outputs)
        new_model = keras.Model(inputs, outputs, name=model.name)
    elif isinstance(model, keras.Sequential):
        new_model = keras.models.clone_model(model, clone_function=clone)
    else:
        new_model = keras.models.clone_model(
            model, input_tensors=inputs, clone_function=clone, call_function=call_chain
        )
    for old, new, copy in made.values():
        if copy and keep_weights and old.weights:
            new.set_weights(old.get_weights())
    return new_model
