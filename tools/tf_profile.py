"""FLOPs the TensorFlow profiler reports for Keras models (what keras-flops wraps).

keras-flops 0.1.2 no longer imports on TensorFlow 2.21, so this does what its
get_flops() does, directly: trace the model at batch 1 in inference mode,
freeze the variables into constants, and run tf.compat.v1.profiler with
ProfileOptionBuilder.float_operation(). Prints {model path: total float ops}
as JSON.

    python tools/tf_profile.py MODEL.h5 [MODEL.keras ...]
"""
from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def tf_profiler_flops(path: str) -> int:
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph

    model = keras.models.load_model(path, compile=False)
    specs = [tf.TensorSpec([1, *inp.shape[1:]], inp.dtype) for inp in model.inputs]
    function = tf.function(lambda *x: model(*x, training=False)).get_concrete_function(*specs)
    frozen, _ = convert_variables_to_constants_v2_as_graph(function)
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                            options=options)
    return int(profile.total_float_ops)


if __name__ == "__main__":
    print(json.dumps({path: tf_profiler_flops(path) for path in sys.argv[1:]}))
