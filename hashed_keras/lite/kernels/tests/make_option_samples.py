"""Writes option_samples.inc: valid HashedWeights, FreshWeights and SMHWeights options, as
the Python `flatbuffers` package's FlexBuffers writer encodes them, for the C++ test
driver and as the fuzzer's seed corpus (the driver writes them out).

Run from the repository root:
    python hashed_keras/lite/kernels/tests/make_option_samples.py
"""

from pathlib import Path

from flatbuffers import flexbuffers


def _map(entries):
    """A map written key by key, with the builder's typed helpers."""
    b = flexbuffers.Builder()
    with b.Map():
        for key, kind, value in entries:
            if kind == "int":
                b.Int(key, value)
            elif kind == "uint":
                b.UInt(key, value)
            elif kind == "indirect_int":
                b.IndirectInt(key, value)
            elif kind == "bool":
                b.Bool(key, value)
            elif kind == "string":
                b.String(key, value)
            elif kind == "typed":
                b.TypedVectorFromElements(key, value)
            elif kind == "fixed":
                b.FixedTypedVectorFromElements(key, value)
            else:
                raise ValueError(kind)
    return bytes(b.Finish())


def samples():
    yield (
        "fc_plain",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 1234,
                "buckets": 7,
                "kernel_shape": [5, 3],
                "layout": "fc",
                "use_sign": True,
                "hash_bias": False,
                "bias_size": 3,
            }
        ),
    )
    yield (
        "ohwi_hash_bias_nosign",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 4294967295,
                "buckets": 11,
                "kernel_shape": [2, 3, 4, 5],
                "layout": "ohwi",
                "use_sign": False,
                "hash_bias": True,
                "bias_size": 5,
            }
        ),
    )
    yield (
        "fc_typed_uint",
        _map(
            [
                ("contract_version", "uint", 1),
                ("seed", "uint", 3000000000),
                ("buckets", "indirect_int", 40),
                ("kernel_shape", "typed", [16, 9]),
                ("layout", "string", "fc"),
                ("use_sign", "bool", True),
                ("hash_bias", "bool", True),
                ("bias_size", "int", 9),
            ]
        ),
    )
    yield (
        "ohwi_fixed",
        _map(
            [
                ("contract_version", "int", 1),
                ("seed", "int", 7),
                ("buckets", "int", 1),
                ("kernel_shape", "fixed", [3, 3, 2, 4]),
                ("layout", "string", "ohwi"),
                ("use_sign", "bool", True),
                ("hash_bias", "bool", False),
                ("bias_size", "int", 0),
            ]
        ),
    )
    yield (
        "fc_wide",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 99,
                "buckets": 70000,
                "kernel_shape": [300, 400],
                "layout": "fc",
                "use_sign": True,
                "hash_bias": False,
                "bias_size": 0,
            }
        ),
    )


def fresh_samples():
    yield (
        "fresh_3x3",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 77,
                "buckets": 1 + 3 + 4 + 2 + 1,
                "band_buckets": [1, 3, 4, 2, 1],
                "kernel_shape": [3, 3, 2, 4],
                "layout": "ohwi",
                "use_sign": True,
            }
        ),
    )
    yield (
        "fresh_5x3_nosign_typed",
        _map(
            [
                ("contract_version", "uint", 1),
                ("seed", "uint", 4000000000),
                ("buckets", "int", 16),
                ("band_buckets", "typed", [3, 3, 3, 3, 2, 1, 1]),
                ("kernel_shape", "fixed", [5, 3, 1, 3]),
                ("layout", "string", "ohwi"),
                ("use_sign", "bool", False),
            ]
        ),
    )
    yield (
        "fresh_1x1",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 0,
                "buckets": 6,
                "band_buckets": [6],
                "kernel_shape": [1, 1, 8, 2],
                "layout": "ohwi",
                "use_sign": True,
            }
        ),
    )


def smh_samples():
    yield (
        "smh_fc_bias",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "n": 9,
                "rank": 3,
                "start": 5,
                "kernel_shape": [6, 4],
                "layout": "fc",
                "bias_size": 4,
            }
        ),
    )
    yield (
        "smh_ohwi_typed",
        _map(
            [
                ("contract_version", "uint", 1),
                ("n", "int", 12),
                ("rank", "uint", 2),
                ("start", "indirect_int", 0),
                ("kernel_shape", "fixed", [3, 3, 2, 4]),
                ("layout", "string", "ohwi"),
                ("bias_size", "int", 0),
            ]
        ),
    )


def bomb_samples():
    """Valid options over the delegate's default limits (docs/tflite_format.md,
    "Limits"): never computed, refused before any allocation."""
    yield (
        "bomb_fc_2p30",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 1,
                "buckets": 4,
                "kernel_shape": [1048576, 1024],
                "layout": "fc",
                "use_sign": True,
                "hash_bias": False,
                "bias_size": 0,
            }
        ),
    )
    yield (
        "bomb_smh_rank",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "n": 1024,
                "rank": 1024,
                "start": 0,
                "kernel_shape": [1024, 1024],
                "layout": "fc",
                "bias_size": 0,
            }
        ),
    )
    yield (
        "bomb_fresh_32x32",
        flexbuffers.Dumps(
            {
                "contract_version": 1,
                "seed": 5,
                "buckets": 63,
                "band_buckets": [1] * 63,
                "kernel_shape": [32, 32, 256, 256],
                "layout": "ohwi",
                "use_sign": True,
            }
        ),
    )


def _array(lines, array, comment, items):
    names = []
    for name, data in items:
        body = ", ".join(f"0x{b:02x}" for b in data)
        lines.append(f"static const unsigned char kSample_{name}[] = {{{body}}};")
        names.append(name)
    lines.append(f"// {comment}")
    lines.append(f"static const OptionSample {array}[] = {{")
    for name in names:
        lines.append(f'  {{"{name}", kSample_{name}, sizeof(kSample_{name})}},')
    lines.append("};")
    return len(names)


def main():
    out = Path(__file__).with_name("option_samples.inc")
    lines = [
        "// Generated by make_option_samples.py: valid options of each operator.",
        "// clang-format off",
        "struct OptionSample { const char* name; const unsigned char* data; size_t size; };",
    ]
    count = _array(lines, "kOptionSamples", "HashedWeights", samples())
    count += _array(lines, "kFreshOptionSamples", "FreshWeights", fresh_samples())
    count += _array(lines, "kSmhOptionSamples", "SMHWeights", smh_samples())
    count += _array(
        lines,
        "kBombOptionSamples",
        "Over the default limits: HashedWeights, SMHWeights, FreshWeights",
        bomb_samples(),
    )
    names = range(count)
    lines.append("// clang-format on")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out} ({len(names)} samples)")


if __name__ == "__main__":
    main()
