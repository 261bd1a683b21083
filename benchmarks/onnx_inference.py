"""Prediction speed: neuronet's predict_proba vs the same model exported to ONNX Runtime, one thread.

The MNIST-5k MLP (784-128-64-10) and CNN (conv 8 → pool → conv 16 → pool → dense 10), each
trained for a few epochs, predict the 1,000 test samples one at a time (batch 1: what a
service answering single requests sees) and all at once (batch 1000). Prints the time per
call, samples per second, how many times faster ONNX Runtime is (> 1: ONNX Runtime is
faster), and the largest difference between the two sets of probabilities. There is no
target: the table tells users when exporting pays. Each setting runs --repeats times; the
fastest run counts.

    pip install 'neuronet[onnx]' onnxruntime
    python benchmarks/onnx_inference.py [--epochs 3]
"""

import argparse
import warnings

import numpy as np
import onnxruntime
from common import mnist_split, one_thread, timed

from neuronet import CNNClassifier, MLPClassifier, to_onnx


def trained(model, data, epochs):
    X_train, _, y_train, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose
        return model.set_params(max_iter=epochs, random_state=0).fit(X_train, y_train)


def onnx_session(model):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(to_onnx(model).SerializeToString(), options,
                                        providers=["CPUExecutionProvider"])


def seconds_per_call(predict, X, batch_size, repeats):
    """The fastest of ``repeats`` passes over X in batches of ``batch_size``, per call."""
    batches = [X[start : start + batch_size] for start in range(0, len(X), batch_size)]
    best = min(timed(lambda: [predict(batch) for batch in batches])[1] for _ in range(repeats))
    return best / len(batches)


def compare(name, model, X_test, repeats):
    session = onnx_session(model)
    runners = {"neuronet": model.predict_proba,
               "onnxruntime": lambda batch: session.run(["output_probability"], {"X": batch})[0]}
    difference = np.abs(runners["onnxruntime"](X_test) - runners["neuronet"](X_test)).max()
    rows = []
    for batch_size in (1, 1000):
        times = {library: seconds_per_call(run, X_test, batch_size, repeats) for library, run in runners.items()}
        for library, seconds in times.items():
            rows.append((name, library, batch_size, seconds * 1000, batch_size / seconds,
                         times["neuronet"] / seconds))
    return rows, difference


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting; the fastest counts")
    args = parser.parse_args()
    one_thread()
    flat, images = mnist_split(), mnist_split(images=True)
    models = {"MLP": (trained(MLPClassifier((128, 64)), flat, args.epochs), flat[1].astype(np.float32)),
              "CNN": (trained(CNNClassifier(conv_filters=(8, 16)), images, args.epochs), images[1].astype(np.float32))}
    print(f"{'model':<6}{'library':<13}{'batch':>6}{'ms/call':>10}{'samples/s':>12}{'× neuronet speed':>18}")
    for name, (model, X_test) in models.items():
        rows, difference = compare(name, model, X_test, args.repeats)
        for row in rows:
            print(f"{row[0]:<6}{row[1]:<13}{row[2]:>6}{row[3]:>10.3f}{row[4]:>12,.0f}{row[5]:>18.2f}")
        print(f"{name}: largest difference between the probabilities {difference:.1e}")


if __name__ == "__main__":
    main()
