"""Reading the model files a command was given, with one-line errors.

A missing, unreadable or invalid ``.tflite`` ends the command with one line
on stderr (which file, what is wrong, what to do) and exit status 1, never a
traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path


def read_tflite(path, *, verify: bool = True) -> bytes:
    """The bytes of ``path``, verified unless ``verify`` is False; exits on a problem."""
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        sys.exit(f"error: {path}: no such file; check the path.")
    except IsADirectoryError:
        sys.exit(f"error: {path}: is a directory; give the path of a .tflite file.")
    except OSError as error:
        sys.exit(f"error: {path}: cannot be read ({error.strerror or error}).")
    if verify:
        from hashed_keras.lite.verify import InvalidModelError
        from hashed_keras.lite.verify import verify as verify_content

        try:
            verify_content(content)
        except InvalidModelError as error:
            sys.exit(
                f"error: {path}: {error} (the file was not loaded; "
                f"--noverify skips this check for a file you trust)"
            )
    return content


def check_tflite_files(
    paths, *, verify: bool = True, example_shape=None, dataset: str = ""
) -> None:
    """:func:`read_tflite` for each path (exits at the first problem).

    With ``example_shape`` (one example's shape, e.g. ``(8, 8, 1)``), also
    exits if a model's first input does not take examples of that shape.
    """
    for path in paths:
        content = read_tflite(path, verify=verify)
        if example_shape is not None:
            _check_input_shape(path, content, tuple(example_shape), dataset)


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) or "a scalar"


def _check_input_shape(path, content: bytes, example_shape, dataset: str) -> None:
    from hashed_keras.lite import flatbuffer

    model = flatbuffer.read(content)
    sg = model.subgraphs[0]
    if sg.inputs is None or len(sg.inputs) == 0:
        sys.exit(f"error: {path}: the model has no input.")
    tensor = sg.tensors[int(sg.inputs[0])]
    expects = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))[1:]
    if expects != example_shape:
        sys.exit(
            f"error: {path}: the model expects {_shape_text(expects)} inputs, "
            f"{dataset or 'the data set'} is {_shape_text(example_shape)}; evaluate it "
            f"on the data set it was trained on (--dataset, --data_dir)."
        )
