"""Baselines a user would otherwise pick, for the comparison benchmark.

* :mod:`hk_experiments.baselines.tfmot`: tfmot magnitude pruning and weight
  clustering, run by :mod:`hk_experiments.baselines.tfmot_worker` in a process
  of its own (tfmot 0.8.1 needs legacy Keras, ``tf_keras``).
* :mod:`hk_experiments.baselines.ptq`: TFLite post-training full-integer (int8)
  quantization of a Keras 3 model.
"""
