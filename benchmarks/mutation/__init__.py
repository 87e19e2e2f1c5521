"""A whole-file, structure-aware mutation test of the `.tflite` files of ``lite.convert``.

* :mod:`~benchmarks.mutation.seeds`: real converted files (HashedWeights,
  FreshWeights, SMHWeights; float32 and int8 shared variables), cached.
* :mod:`~benchmarks.mutation.mutators`: deterministic mutants of a file, drawn
  per ``(seed, index)`` from families of schema-level, custom-option and raw
  byte edits; :func:`~benchmarks.mutation.mutators.structure` for the
  "silent wrong result" check.
* :mod:`~benchmarks.mutation.worker`: the child process that loads a mutant
  through one route (``ours``, ``bare``, ``stock``) and reports what happened.
* :mod:`~benchmarks.mutation.runner`: long-lived workers, crash and hang
  detection, a fresh worker after each.

The command is ``python -m benchmarks.tflite_mutation``.
"""
