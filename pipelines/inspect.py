"""Shows what a .tflite holds: operators, tensors with stored bytes, custom op options.

  python -m pipelines.inspect model.tflite [--json] [--noverify]

The file is verified first (hashed_keras.lite.verify); an invalid file is
refused with one line saying what is wrong. ``--noverify`` shows what can be
read of a file the verifier refuses (to investigate a corrupted file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from absl import app, flags

from pipelines import model_files

FLAGS = flags.FLAGS
flags.DEFINE_bool("json", False, "Print JSON instead of text.")
flags.DEFINE_bool(
    "verify", True, "Refuse a file the verifier refuses (--noverify: show what can be read of it)."
)


def describe(path, content: bytes | None = None) -> dict:
    """A JSON-able description of a .tflite file (``content``: its bytes, if read)."""
    from hashed_keras.lite import flatbuffer, ops

    content = Path(path).read_bytes() if content is None else content
    model = flatbuffer.read(content)
    result = {"path": str(path), "file_bytes": len(content), "subgraphs": []}
    for sg in model.subgraphs:
        tensors = [
            {
                "index": i,
                "name": flatbuffer.tensor_name(t),
                "type": flatbuffer.type_name(t.type),
                "shape": [] if t.shape is None else [int(d) for d in t.shape],
                "stored_bytes": flatbuffer.buffer_bytes(model, t),
            }
            for i, t in enumerate(sg.tensors)
        ]
        operators = []
        for i, op in enumerate(sg.operators):
            entry = {
                "index": i,
                "op": flatbuffer.opcode_name(model, op.opcodeIndex),
                "inputs": [int(x) for x in (op.inputs if op.inputs is not None else [])],
                "outputs": [int(x) for x in (op.outputs if op.outputs is not None else [])],
            }
            if entry["op"] in ops.CUSTOM_OPS and op.customOptions is not None:
                try:
                    entry["options"] = ops.decode_options(
                        bytes(np.asarray(op.customOptions, np.uint8))
                    )
                except Exception as error:  # a malformed file: say so, keep going
                    entry["options"] = f"<undecodable: {error}>"
            operators.append(entry)
        result["subgraphs"].append({"operators": operators, "tensors": tensors})
    return result


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("usage: python -m pipelines.inspect MODEL.tflite")
    path = argv[1]
    content = model_files.read_tflite(path, verify=FLAGS.verify)
    try:
        info = describe(path, content)
    except Exception as error:  # only reachable with --noverify: the parser gave up
        sys.exit(
            f"error: {path}: cannot be parsed as a TFLite flatbuffer "
            f"({type(error).__name__}: {error})."
        )
    if FLAGS.json:
        print(json.dumps(info, indent=2, default=str))
        return
    print(f"{info['path']}: {info['file_bytes']:,} bytes")
    for n, sg in enumerate(info["subgraphs"]):
        print(f"\nsubgraph {n}: {len(sg['operators'])} operators")
        for op in sg["operators"]:
            print(f"  [{op['index']:>3}] {op['op']:<20} in={op['inputs']} out={op['outputs']}")
            if "options" in op:
                print(f"        options: {op['options']}")
        stored = sum(t["stored_bytes"] for t in sg["tensors"])
        print(f"\n  tensors ({stored:,} bytes stored):")
        for t in sg["tensors"]:
            print(
                f"  [{t['index']:>3}] {t['type']:<8} {str(t['shape']):<20} "
                f"{t['stored_bytes']:>10,} B  {t['name'][:60]}"
            )


if __name__ == "__main__":
    app.run(main)
