"""Shows what a .tflite holds: operators, tensors with stored bytes, custom op options.

  python -m pipelines.inspect model.tflite [--json]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_bool("json", False, "Print JSON instead of text.")


def describe(path) -> dict:
    """A JSON-able description of a .tflite file."""
    from hashed_keras.lite import flatbuffer, ops
    content = Path(path).read_bytes()
    model = flatbuffer.read(content)
    result = {"path": str(path), "file_bytes": len(content), "subgraphs": []}
    for sg in model.subgraphs:
        tensors = [{
            "index": i, "name": flatbuffer.tensor_name(t),
            "type": flatbuffer.type_name(t.type),
            "shape": [] if t.shape is None else [int(d) for d in t.shape],
            "stored_bytes": flatbuffer.buffer_bytes(model, t),
        } for i, t in enumerate(sg.tensors)]
        operators = []
        for i, op in enumerate(sg.operators):
            entry = {"index": i, "op": flatbuffer.opcode_name(model, op.opcodeIndex),
                     "inputs": [int(x) for x in (op.inputs if op.inputs is not None else [])],
                     "outputs": [int(x) for x in (op.outputs if op.outputs is not None else [])]}
            if entry["op"] in ops.CUSTOM_OPS and op.customOptions is not None:
                try:
                    entry["options"] = ops.decode_options(
                        bytes(np.asarray(op.customOptions, np.uint8)))
                except Exception as error:  # a malformed file: say so, keep going
                    entry["options"] = f"<undecodable: {error}>"
            operators.append(entry)
        result["subgraphs"].append({"operators": operators, "tensors": tensors})
    return result


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("usage: python -m pipelines.inspect MODEL.tflite")
    info = describe(argv[1])
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
            print(f"  [{t['index']:>3}] {t['type']:<8} {str(t['shape']):<20} "
                  f"{t['stored_bytes']:>10,} B  {t['name'][:60]}")


if __name__ == "__main__":
    app.run(main)
