"""The zoo's architectures without Keras: layer kinds and sizes.

Read by both builders: :mod:`hk_experiments.models` (Keras 3, every method)
and :mod:`hk_experiments.baselines.tfmot_worker` (tf_keras, dense, for tfmot).
A model is ``Input -> [Conv2D -> 2x2 MaxPooling while the map is >= 2 wide]
-> Flatten -> [Dense] -> Dense(softmax)`` with ReLU activations. ResNet-20 is
built by :mod:`hk_experiments.models` alone.
"""

from typing import NamedTuple


class Arch(NamedTuple):
    convs: tuple = ()  # filters of each conv
    dense: tuple = ()  # units of each hidden dense layer
    pad: str = "same"  # "same": 3x3 convs; "valid": 5x5 convs (see conv_padding)


ARCHS = {
    # The HashedNets paper's 3-layer (784-1000-10) and 5-layer (784-1000-1000-1000-10) nets.
    "mlp3": Arch(dense=(1000,)),
    "mlp5": Arch(dense=(1000, 1000, 1000)),
    # A small CNN: two 3x3 convs with pooling and one hidden dense layer.
    "cnn": Arch(convs=(32, 64), dense=(128,)),
    # LeNet-5 style: 5x5 convs 20 and 50 filters, 500 hidden units.
    "lenet": Arch(convs=(20, 50), dense=(500,), pad="valid"),
}


def conv_padding(pad: str, height: int, width: int) -> str:
    """A valid 5x5 window does not fit a map smaller than 5 (LeNet's second conv on
    8x8 digits): a "same" conv there."""
    return "same" if pad == "valid" and min(height, width) < 5 else pad


def kernel_size(padding: str) -> int:
    return 3 if padding == "same" else 5
