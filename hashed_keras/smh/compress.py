"""``compress_smh``: a Sequential or functional model turned into its SMH twin."""

from __future__ import annotations

import logging
import math
import warnings

import keras

from hashed_keras import validate
from hashed_keras.layers.smh import SMHConv2D, SMHDense, SMHLayer
from hashed_keras.layers.smh_factors import SMHFactors
from hashed_keras.replaceable import (
    check_rebuildable,
    has_kernel,
    make_twin,
    replaceable_kind,
    rewrite,
)
from hashed_keras.smh.layout import initializer_std, plan_layout

_log = logging.getLogger(__name__)


_DROPPED_KEYS = ("kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint")


def _twin(layer, kind, n, start, scale_init, learn_scale, bias_scale, use_xla):
    return make_twin(
        SMHDense if kind == "dense" else SMHConv2D,
        layer,
        kind,
        ("name", "activation", "use_bias", "dtype", "activity_regularizer"),
        n=n,
        start=start,
        scale_init=scale_init,
        learn_scale=learn_scale,
        bias_scale=bias_scale,
        use_xla=use_xla,
    )


def _unique_name(base, taken):
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    return name


def _input_name(tensor):
    history = getattr(tensor, "_keras_history", None)
    operation = getattr(history, "operation", None) or (history[0] if history else None)
    return getattr(operation, "name", None) or tensor.name


def compress_smh(
    model,
    target_size=None,
    fraction=None,
    learn_scale=True,
    seed=None,
    skip=(),
    bias_scale=1.0,
    use_xla=False,
):
    """Returns a functional SMH twin of ``model`` (Structured Multi-Hashing).

    Every Dense and Conv2D layer (kernel, then bias) is tiled, in the order of
    ``model.layers``, into one virtual ``n x n`` matrix ``M_hat = U^T @ V``
    (``n = ceil(sqrt(N))``, ``N`` the total count) shared by the whole model,
    and replaced by an :class:`SMHDense`/:class:`SMHConv2D` reading its span
    of ``M_hat``. One :class:`SMHFactors` layer (named ``"smh_factors"``)
    owns ``U`` and ``V``, each ``M x n``. BatchNormalization, pooling, Add and
    every other layer are kept with their weights; layers that hold a kernel
    but have no SMH twin (Conv1D, DepthwiseConv2D, Embedding, grouped convs,
    ...) are left as they are and named in a warning. Kernel/bias
    regularizers and constraints of replaced layers are dropped (warned).

    Initialisation is random, as in the paper (the original weights are not
    used): ``U``, ``V ~ N(0, M**-0.5)`` so every entry of ``M_hat`` has unit
    std, and layer ``l``'s scale starts at ``s_l``, the std of the original
    layer's kernel initializer on its kernel shape (Glorot for Keras'
    default). Biases are read from ``M_hat`` right after their kernel and
    multiplied by ``scale * bias_scale``.

    Args:
      model: a built Sequential or functional ``keras.Model``.
      target_size: the stored size ``T`` of the compressed part: ``2 * M *
        n`` plus one scale per layer. ``M = max(1, round((T - L) / 2n))``,
        so the result is within ``n`` of ``T`` (a warning says so when that
        is more than 1% of ``T``).
      fraction: instead of ``target_size``: ``T = round(fraction * N)``, in
        (0, 1].
      learn_scale: whether the per-layer scales are trained (the paper's
        learnable scale; default True) or fixed at ``s_l``.
      seed: integer seed of ``U`` and ``V``'s initial draw; ``None`` uses
        Keras' global RNG (repeatable after ``keras.utils.set_random_seed``).
      skip: names of Dense/Conv2D layers to keep dense (not counted in ``N``).
      bias_scale: constant factor between a layer's bias and kernel entries
        (default 1.0, the paper: both have initial std ``s_l``).
      use_xla: rebuild each layer's weights in a small XLA-compiled function
        (default False; see :class:`SMHLayer`).

    Returns:
      A new functional ``keras.Model`` with the same name, inputs and
      outputs; :func:`smh_summary` reports its sizes.

    Raises:
      ValueError: for a subclassed or unbuilt model, both or neither of
        ``target_size``/``fraction``, ``fraction`` outside (0, 1], a target
        larger than ``N`` or below ``2n + L`` (the ``M = 1`` model), names in
        ``skip`` that are not layers, or a model with no Dense/Conv2D layer
        to compress.

    Example:

    >>> model = keras.Sequential([keras.Input((28, 28, 1)),
    ...                           keras.layers.Conv2D(16, 3, activation="relu"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> smh = compress_smh(model, fraction=1 / 8, seed=0)
    >>> smh.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> smh_summary(smh)["stored_size"]   # 2*20*338 + 2: within 1% of 108330/8
    13522
    """
    _check_model(model, target_size, fraction)
    learn_scale = validate.boolean(learn_scale, "learn_scale")
    use_xla = validate.boolean(use_xla, "use_xla")
    seed = validate.seed(seed, optional=True)
    bias_scale = validate.number(bias_scale, "bias_scale", positive=True)
    plan, unsupported, dropped = _plan(model, _check_skip(model, skip))
    sizes = [math.prod(shape) + bias for _, _, shape, bias in plan]
    layout = plan_layout(sizes, target_size=target_size, fraction=fraction)
    n, rank = layout["n"], layout["rank"]
    stored, target = layout["stored_size"], layout["target_size"]
    if abs(stored - target) > 0.01 * target:
        warnings.warn(
            f"compress_smh(): stored size {stored} is "
            f"{100 * (stored - target) / target:+.1f}% "
            f"off the target {target} (n = {n}, rank = {rank}): SMH sizes come in steps of "
            "2 * rank.",
            stacklevel=2,
        )
    twins = {}
    for (layer, kind, shape, _), start in zip(plan, layout["starts"]):
        s = initializer_std(layer.get_config().get("kernel_initializer", "glorot_uniform"), shape)
        twins[id(layer)] = _twin(layer, kind, n, start, s, learn_scale, bias_scale, use_xla)
    new_model = _rebuild(
        model,
        twins,
        SMHFactors(
            n=n,
            rank=rank,
            seed=seed,
            virtual_size=layout["N"],
            name=_unique_name("smh_factors", {layer.name for layer in model.layers}),
        ),
    )
    if unsupported:
        listing = ", ".join(f"{name} ({why})" for name, why in unsupported)
        warnings.warn(f"compress_smh(): left unchanged: {listing}.", stacklevel=2)
    if dropped:
        warnings.warn(
            "compress_smh(): kernel/bias regularizers and constraints are not carried over "
            f"to SMH layers: {', '.join(dropped)}.",
            stacklevel=2,
        )
    _log.info(
        "compress_smh(): %d layers, N=%d, n=%d, rank=%d, stored %d (target %d)",
        len(plan),
        layout["N"],
        n,
        rank,
        stored,
        target,
    )
    return new_model


def _check_model(model, target_size, fraction):
    check_rebuildable(model, "compress_smh", "hashed_keras.smh.SMHFactors/SMHDense/SMHConv2D")
    if (target_size is None) == (fraction is None):
        raise ValueError(
            "Pass exactly one of `target_size` (stored scalars) or `fraction` (of the "
            f"model's weights), got target_size={target_size!r}, fraction={fraction!r}."
        )
    if not model.built or not model.inputs:
        raise ValueError(
            "compress_smh() needs a built model with known inputs (create it with "
            "keras.Input, or call model.build(input_shape) first)."
        )


def _check_skip(model, skip) -> set:
    skip = {skip} if isinstance(skip, str) else set(skip)
    names = {layer.name for layer in model.layers}
    unknown = sorted(skip - names)
    if unknown:
        raise ValueError(
            f"Layers {unknown} named in `skip` are not in the model; its layers are "
            f"{sorted(names)}."
        )
    return skip


def _plan(model, skip):
    """The layers to tile, in creation order, as ``(layer, kind, kernel shape, bias
    size)``; the ``(name, reason)`` of layers left unchanged; the layers whose
    regularizers or constraints are dropped."""
    plan, unsupported, dropped = [], [], []
    for layer in model.layers:
        if isinstance(layer, (SMHLayer, SMHFactors)):
            raise ValueError(f"Model already holds SMH layers ('{layer.name}').")
        if layer.name in skip:
            continue
        kind, reason = replaceable_kind(layer)
        if kind is not None:
            if not layer.built:
                raise ValueError(f"Layer '{layer.name}' is not built; build the model first.")
            kernel_shape = tuple(int(d) for d in layer.kernel.shape)
            bias = int(layer.bias.shape[0]) if layer.use_bias else 0
            plan.append((layer, kind, kernel_shape, bias))
            if any(layer.get_config().get(k) for k in _DROPPED_KEYS):
                dropped.append(layer.name)
            continue
        if reason is None and (
            has_kernel(layer) or (isinstance(layer, keras.Model) and layer.weights)
        ):
            reason = f"no SMH twin for {type(layer).__name__}"
        if reason:
            unsupported.append((layer.name, reason))
    if not plan:
        raise ValueError(
            "compress_smh(): the model has no Dense or Conv2D layer to compress "
            f"(layers: {[layer.name for layer in model.layers]})."
        )
    return plan, unsupported, dropped


def _rebuild(model, twins, factors_layer):
    """The model with its twins, on new inputs; the factors hang off the first input.
    Untouched layers keep their weights (BatchNorm statistics included)."""
    inputs = keras.tree.map_structure(
        lambda x: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=_input_name(x)),
        model.inputs[0] if isinstance(model, keras.Sequential) else model.input,
    )
    factors = factors_layer(keras.tree.flatten(inputs)[0])

    def call(layer, *args, **kwargs):
        if isinstance(layer, SMHLayer):
            return layer(*args, factors, **kwargs)
        return layer(*args, **kwargs)

    return rewrite(model, lambda layer: twins.get(id(layer)), call=call, inputs=inputs)
