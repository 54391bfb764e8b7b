"""An exported model's weights stored in 16 bits: half the file, the same float32 arithmetic.

Each float32 weight of the graph is stored as float16 and turned back into float32 by a ``Cast`` node in
front of its users. ONNX Runtime folds those casts into float32 weights when it loads the file, so the graph
that runs is the float32 one (same speed, same kernels); the colors differ from the float32 file's only by
the weights' rounding to 11 significant bits, a few hundredths of a Lab unit (BENCHMARKS section 14). The
point is the download and the install: a built-in model ships in half the space.

Example:
    >>> store_weights_half("model.onnx", "model-small.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polychrome._atomic import atomic_write

WEIGHTS_KEY = "weights"  # metadata: how the weights are stored ("float16" here; absent: as computed)
# Smaller float tensors are the graph's constants (scales, epsilons, shapes' arithmetic), not weights: they
# stay exact.
MIN_ELEMENTS = 16


def store_weights_half(source: str | Path, path: str | Path) -> Path:
    """Write a copy of the ONNX file ``source`` at ``path`` (atomically; it may be ``source`` itself) whose
    float32 weights of at least :data:`MIN_ELEMENTS` values are stored as float16 and cast back on load.

    Raises:
        ValueError: ``source`` already stores its weights in float16, or holds int8 weights.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load(str(source))
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    if metadata.get(WEIGHTS_KEY) == "float16":
        raise ValueError(f"{source} already stores its weights in float16")
    if metadata.get("precision") == "int8":
        raise ValueError(f"{source} holds int8 weights; store the float export's weights in float16 instead")
    graph = proto.graph
    kept, casts = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype != np.float32 or values.size < MIN_ELEMENTS:
            kept.append(tensor)
            continue
        half = numpy_helper.from_array(values.astype(np.float16), f"{tensor.name}.float16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [tensor.name], to=TensorProto.FLOAT))
    if not casts:
        raise ValueError(f"{source} has no float32 weights to store in float16")
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)  # a cast must come before its users: the graph is topologically sorted
    entry = proto.metadata_props.add()
    entry.key, entry.value = WEIGHTS_KEY, "float16"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    path = Path(path)
    atomic_write(path, lambda handle: handle.write(data))
    return path
