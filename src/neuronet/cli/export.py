"""neuronet export: a saved model as an ONNX file, for ONNX Runtime and every tool that reads ONNX."""

from __future__ import annotations

import os

from ..extras import install_command
from .common import RAW, UserError, load_model

DESCRIPTION = f"""\
Write a saved model as one ONNX graph, checked with onnx.checker: ONNX Runtime then runs it
without neuronet (from Python, C#, Java, C++, JavaScript in the browser, or on a phone), and
Netron draws it, one node per layer operation (dense_0/MatMul, relu_1/Relu, ...).

The graph holds everything predict does: the preprocessing saved with the model (its
scaler), the network, and the estimator's head. Its input X is float32, any number of
samples: rows of features; for a model neuronet train made from images, rows of their
values as the source stores them (digits 0-16, MNIST and photos 0-255: decoded, resized,
channels first, flattened to N x C*H*W), divided in the graph as the model file records;
for a model of images saved from Python, images as it was trained on them (N x C x H x W,
scaled to [0, 1]). Its outputs (the names skl2onnx gives scikit-learn classifiers with its
ZipMap, the probabilities here one tensor):
  output_label           a classifier: the predicted class (int64, or a string when the
                         classes are strings)
  output_probability     and its probabilities, one column per class (N x K)
  variable               a regressor: the predicted values
  output                 a bare network: its forward pass

Needs the onnx package: {install_command('onnx')}."""


def add(commands):
    parser = commands.add_parser(
        "export", help="write a saved model as an ONNX file, to run it anywhere with ONNX Runtime",
        description=DESCRIPTION,
        epilog="examples:\n  neuronet export neuronet-runs/run-1/model.npz model.onnx\n"
               "  neuronet export cats-cnn.npz                     writes cats-cnn.onnx", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train (or neuronet.save)")
    parser.add_argument("output", nargs="?", metavar="OUTPUT.onnx",
                        help="where to write the ONNX file (default: the model's name with .onnx)")
    parser.set_defaults(run=run)


def run(args):
    try:
        from ..export import signature, to_onnx
    except ImportError as error:
        raise UserError(str(error)) from None
    saved = load_model(args.model)
    output = args.output or os.path.splitext(args.model)[0] + ".onnx"
    image_shape = None if saved.image_scaler is not None else saved.extra.get("image_shape")  # it reads rows
    proto = to_onnx(saved.model, output, image_shape=image_shape)
    print(f"wrote {output}: {proto.graph.name}, {len(proto.graph.node)} ONNX nodes, checked by onnx.checker")
    inputs, outputs = signature(proto)
    width = max(len(name) for name, _, _ in inputs + outputs) + 2
    print(f"  {'role':<7} {'name':<{width}}type [shape]")
    for role, values in (("input", inputs), ("output", outputs)):
        for name, element_type, shape in values:
            print(f"  {role:<7} {name:<{width}}{element_type} [{', '.join(map(str, shape))}]")
    return 0
