"""The ``neuronet`` command: train, evaluate, predict, summarise, and study.

A mistake on the command line (missing file, unknown dataset, bad hyperparameter,
model/data mismatch) ends with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import warnings

import numpy as np

RAW = argparse.RawDescriptionHelpFormatter
EPILOG = """examples:
  neuronet train                                   logistic regression on breast-cancer data
  neuronet train --data digits --model mlp         a deep network reads 8×8 digits
  neuronet train --data mnist-5k --model cnn       a convolutional network reads MNIST
  neuronet train --data ~/dogs-vs-cats/train --model logistic --learning-rate 0.005 --epochs 2000
  neuronet evaluate neuronet-runs/model.npz digits
  neuronet predict neuronet-runs/model.npz photo.jpg
  neuronet summary neuronet-runs/model.npz
  neuronet study learning-rate                     the step-size lesson, as a figure
  neuronet gradcheck neuronet-runs/model.npz       backprop against finite differences
  neuronet rl cartpole                             a policy network learns to balance a pole
"""


class UserError(Exception):
    """A mistake on the command line: printed as one line, exit status 2."""


# --- argument types ---------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _fraction(text):
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"hidden sizes are comma-separated integers like 128,64; got {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers like 128,64; got {text!r}")
    return sizes


def _rates(text):
    try:
        return [_positive_float(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"learning rates are comma-separated positive numbers: {error}") from None


# --- shared helpers ---------------------------------------------------------
def load_data(name, image_size=64, grayscale=False):
    from . import datasets

    if name.lower() not in datasets.BUILTIN and not os.path.exists(name):
        raise UserError(f"unknown dataset {name!r}: use one of {', '.join(datasets.BUILTIN)}, or a folder of images")
    if os.path.exists(name) and not os.path.isdir(name):
        raise UserError(f"{name!r} is a file; give a dataset name or a folder of images")
    return datasets.load(name, image_size=image_size, grayscale=grayscale)


def standardizer(dataset, X_train):
    """Tabular features are standardized with the training set's mean and spread."""
    if dataset.image_shape is not None:
        return {}
    scale = X_train.std(axis=0)
    return {"mean": X_train.mean(axis=0), "scale": np.where(scale > 0, scale, 1.0)}


def preprocess(arrays, X):
    return (X - arrays["mean"]) / arrays["scale"] if "mean" in arrays else X


def load_model(path):
    from .io import load

    if not os.path.exists(path):
        raise UserError(f"no model file at {path!r} (train one with: neuronet train --output {path})")
    model, extra = load(path, with_extra=True)
    return model, extra["meta"], extra["arrays"]


def _data_like_training(name, meta):
    image = meta.get("image_size")
    return load_data(name, image_size=image or 64, grayscale=bool(meta.get("grayscale")))


def _check_classes(dataset, meta):
    trained = meta.get("class_names")
    if trained is not None and [str(c) for c in dataset.class_names] != trained:
        raise UserError(f"the model knows the classes {trained}, but {dataset.name} has "
                        f"{[str(c) for c in dataset.class_names]}")


# --- train ------------------------------------------------------------------
def add_train(commands):
    parser = commands.add_parser(
        "train", help="train a model on a dataset, save it, and write a report",
        description="Train a model on a built-in dataset or a folder of images, print train and test accuracy, "
                    "save the model (one .npz file) and write a report folder of figures with an index.html.\n\n"
                    "Models: logistic = one sigmoid neuron (full-batch gradient descent); mlp = hidden layers "
                    "trained by backpropagation on minibatches; cnn = convolutions that share weights.",
        epilog="examples:\n  neuronet train\n  neuronet train --data digits --model mlp --hidden 64\n"
               "  neuronet train --data mnist-5k --model cnn --epochs 10\n"
               "  neuronet train --data spiral --model mlp --hidden 64,64 --epochs 200\n"
               "  neuronet train --data ~/dogs-vs-cats/train --model logistic --learning-rate 0.005 --epochs 2000",
        formatter_class=RAW)
    parser.add_argument("--data", default="breast-cancer",
                        help="breast-cancer, digits, mnist-5k, moons, circles, xor, spiral, or a folder of images "
                             "(default: breast-cancer)")
    parser.add_argument("--model", choices=["logistic", "mlp", "cnn"], default="logistic",
                        help="logistic: one sigmoid neuron; mlp: hidden layers; cnn: convolutions (default: logistic)")
    parser.add_argument("--hidden", type=_sizes, default=(128, 64), metavar="N,N",
                        help="hidden layer sizes of the mlp (default: 128,64)")
    parser.add_argument("--learning-rate", type=_positive_float, default=None, metavar="LR",
                        help="step size (default: 0.1 logistic, 0.001 mlp, 0.005 cnn)")
    parser.add_argument("--epochs", type=_positive_int, default=None, metavar="N",
                        help="epochs, or gradient-descent iterations for logistic (default: 1000 logistic, 20 mlp, 10 cnn)")
    parser.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                        help="minibatch size of mlp and cnn (default: 64 mlp, 32 cnn)")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                        help="adam, or sgd with momentum 0.9 (mlp and cnn; default: adam)")
    parser.add_argument("--l2", type=float, default=None, metavar="ALPHA",
                        help="L2 penalty on the weights (default: 0 logistic, 1e-4 otherwise)")
    parser.add_argument("--image-size", type=_positive_int, default=64, metavar="PIXELS",
                        help="images from a folder are resized to PIXELS×PIXELS (default: 64)")
    parser.add_argument("--grayscale", action="store_true", help="read folder images as one grey channel")
    parser.add_argument("--test-size", type=_fraction, default=0.2, metavar="F",
                        help="fraction held out for testing, stratified (default: 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the shuffles (default: 0)")
    parser.add_argument("--output", default=os.path.join("neuronet-runs", "model.npz"), metavar="FILE",
                        help="where to write the model (default: neuronet-runs/model.npz)")
    parser.add_argument("--report", default=None, metavar="FOLDER",
                        help="where to write figures and index.html (default: a 'report' folder beside the model)")
    parser.add_argument("--checkpoint", default=None, metavar="FILE",
                        help="save the whole training state there after every epoch (default: only on Ctrl-C, "
                             "beside the model as MODEL.ckpt)")
    parser.add_argument("--checkpoint-every", type=_positive_int, default=None, metavar="N",
                        help="with --checkpoint: also save every N minibatches")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint (same settings and data as the run that wrote it)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.set_defaults(run=run_train)


def build_estimator(args, dataset):
    from . import CNNClassifier, LogisticRegression, MLPClassifier

    if args.model == "logistic":
        return LogisticRegression(learning_rate=args.learning_rate or 0.1, max_iter=args.epochs or 1000,
                                  alpha=args.l2 or 0.0, random_state=args.seed, tol=0)
    settings = dict(solver=args.optimizer, max_iter=args.epochs, alpha=1e-4 if args.l2 is None else args.l2,
                    random_state=args.seed, tol=0, learning_rate=args.learning_rate, batch_size=args.batch_size)
    if args.model == "mlp":
        defaults = dict(max_iter=20, batch_size=64, learning_rate=0.001 if args.optimizer == "adam" else 0.05)
        return MLPClassifier(hidden_layer_sizes=args.hidden, **{k: v if v is not None else defaults[k] for k, v in settings.items()})
    if dataset.image_shape is None:
        raise UserError(f"--model cnn needs images, and {dataset.name} is a table of features; try --model mlp")
    defaults = dict(max_iter=10, batch_size=32, learning_rate=0.005 if args.optimizer == "adam" else 0.05)
    return CNNClassifier(image_shape=dataset.image_shape, **{k: v if v is not None else defaults[k] for k, v in settings.items()})


def run_train(args):
    from . import save
    from .report import write_report
    from .training import TrainingInterrupted

    dataset = load_data(args.data, args.image_size, args.grayscale)
    X_train, X_test, y_train, y_test = dataset.split(args.test_size, args.seed)
    preprocessing = standardizer(dataset, X_train)
    X_train, X_test = preprocess(preprocessing, X_train), preprocess(preprocessing, X_test)
    model = build_estimator(args, dataset)
    print(f"Training {type(model).__name__} on {dataset.name}: {dataset.description}")
    print(f"  {len(X_train)} training and {len(X_test)} test samples (seed {args.seed})")
    if not args.quiet:
        model.set_params(verbose=2 if args.model == "logistic" else 1)
    checkpoint = args.checkpoint or os.path.splitext(args.output)[0] + ".ckpt"
    if args.resume:
        print(f"resuming from {checkpoint}" if os.path.exists(checkpoint)
              else f"no checkpoint at {checkpoint}: starting from the beginning")
    meta = {"dataset": dataset.name, "data": os.path.abspath(args.data) if os.path.isdir(args.data) else args.data,
            "class_names": [str(c) for c in dataset.class_names], "seed": args.seed, "test_size": args.test_size,
            "image_size": args.image_size if dataset.files else None, "grayscale": args.grayscale,
            "image_shape": list(dataset.image_shape) if dataset.image_shape else None}
    every = (args.checkpoint_every or "epoch") if args.checkpoint else None
    try:
        model.fit(X_train, y_train, validation_data=(X_test, y_test), checkpoint=checkpoint, resume=args.resume,
                  checkpoint_every=every)
    except TrainingInterrupted as stop:
        save(model, args.output, extra={"meta": meta, "arrays": preprocessing})
        command = shlex.join(["neuronet", *[a for a in args.argv if a != "--resume"], "--resume"])
        print(f"\n{stop}. Nothing learned is lost: the model so far is in {args.output}, the training state in "
              f"{checkpoint}.\nTo continue: {command}", file=sys.stderr)
        return 130
    train_accuracy, test_accuracy = model.score(X_train, y_train), model.score(X_test, y_test)
    print(f"train accuracy {train_accuracy:.4f}   test accuracy {test_accuracy:.4f}")
    save(model, args.output, extra={"meta": meta, "arrays": preprocessing})
    settings = {"model": type(model).__name__, "train accuracy": f"{train_accuracy:.4f}",
                "test accuracy": f"{test_accuracy:.4f}", "parameters": f"{model.network_.count_params():,}",
                "model file": args.output, **{k: v for k, v in model.get_params().items() if k != "verbose"}}
    report = args.report or os.path.join(os.path.dirname(os.path.abspath(args.output)), "report")
    index = write_report(report, model, dataset, (X_train, X_test, y_train, y_test), settings)
    print(f"model saved to {args.output}")
    print(f"report written to {index}")
    print(f"next: neuronet evaluate {args.output} {args.data}   |   neuronet summary {args.output}"
          + ("" if args.model != "logistic" else f"   |   neuronet train --data {args.data} --model mlp"))
    return 0


# --- evaluate -----------------------------------------------------------------
def add_evaluate(commands):
    parser = commands.add_parser(
        "evaluate", help="accuracy, per-class precision/recall and confusion matrix of a saved model",
        description="Measure a saved model on a dataset. On the dataset it was trained on, the same held-out "
                    "test split is used (same seed); use --all for every sample.",
        epilog="examples:\n  neuronet evaluate neuronet-runs/model.npz breast-cancer\n"
               "  neuronet evaluate cats.npz ~/dogs-vs-cats/test-folder", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.add_argument("data", help="a dataset name or a folder of images")
    parser.add_argument("--all", action="store_true", help="evaluate on every sample, not the held-out split")
    parser.set_defaults(run=run_evaluate)


def run_evaluate(args):
    from sklearn.metrics import classification_report, confusion_matrix

    model, meta, arrays = load_model(args.model)
    dataset = _data_like_training(args.data, meta)
    _check_classes(dataset, meta)
    trained_here = meta.get("data") in (args.data, os.path.abspath(args.data))
    if trained_here and not args.all:
        _, X, _, y = dataset.split(meta.get("test_size", 0.2), meta.get("seed", 0))  # the split train made
        where = "the held-out test split"
    else:
        X, y, where = dataset.X, dataset.y, "all samples"
    predicted = model.predict(preprocess(arrays, X))
    names = [str(c) for c in dataset.class_names]
    print(f"{type(model).__name__} on {dataset.name}, {where} ({len(y)} samples)")
    print(f"accuracy {np.mean(predicted == y):.4f}\n")
    print(classification_report(y, predicted, labels=np.arange(len(names)), target_names=names, zero_division=0))
    matrix = confusion_matrix(y, predicted, labels=np.arange(len(names)))
    width = max(len(n) for n in names + [str(matrix.max())]) + 2
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * width + "".join(n.rjust(width) for n in names))
    for name, row in zip(names, matrix):
        print(name.rjust(width) + "".join(str(v).rjust(width) for v in row))
    return 0


# --- predict ------------------------------------------------------------------
def add_predict(commands):
    parser = commands.add_parser(
        "predict", help="label images or feature rows with a saved model",
        description="Print the predicted label and its probability for each image, or for each row of a "
                    ".csv (comma-separated numbers) or .npy file of features.",
        epilog="examples:\n  neuronet predict cats.npz kitten.jpg puppy.png\n"
               "  neuronet predict neuronet-runs/model.npz rows.csv", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.add_argument("files", nargs="+", metavar="FILE", help="images, or .csv / .npy files of feature rows")
    parser.set_defaults(run=run_predict)


def _read_rows(path):
    try:
        rows = np.load(path, allow_pickle=False) if path.endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: not a table of numbers ({error})") from None
    return rows.reshape(1, -1) if rows.ndim == 1 else rows


def run_predict(args):
    from .imagefolder import decode_image, to_unit_range

    model, meta, arrays = load_model(args.model)
    names = meta.get("class_names") or [str(c) for c in model.classes_]
    failed = 0
    for path in args.files:
        if not os.path.isfile(path):
            print(f"{path}: error: no such file", file=sys.stderr)
            failed += 1
            continue
        if path.endswith((".csv", ".npy", ".txt")):
            X = _read_rows(path)
            labels = [f"{path}[{i}]" for i in range(len(X))]
        else:
            if not meta.get("image_shape"):
                raise UserError(f"{path}: this model reads feature rows (.csv or .npy), not images")
            size = meta["image_shape"][1:]
            try:
                X = to_unit_range(decode_image(path, size, meta.get("grayscale", False))[None])
            except (OSError, ValueError, SyntaxError) as error:
                print(f"{path}: error: not a readable image ({error})", file=sys.stderr)
                failed += 1
                continue
            labels = [path]
        probabilities = model.predict_proba(preprocess(arrays, X))
        for label, row in zip(labels, probabilities):
            best = int(row.argmax())
            print(f"{label}: {names[best]} ({row[best]:.1%})")
    return 1 if failed else 0


# --- summary ------------------------------------------------------------------
def add_summary(commands):
    parser = commands.add_parser(
        "summary", help="a saved model's layers and parameter counts",
        description="Print each layer, its output shape and its parameter count, counted as by hand "
                    "(a Dense layer from n inputs to k units: n·k weights + k biases).",
        epilog="example:\n  neuronet summary neuronet-runs/model.npz", formatter_class=RAW)
    parser.add_argument("model", help="a model file written by neuronet train")
    parser.set_defaults(run=run_summary)


def run_summary(args):
    model, meta, _ = load_model(args.model)
    network = getattr(model, "network_", model)
    trained_on = f" trained on {meta['dataset']}" if meta.get("dataset") else ""
    print(f"{type(model).__name__}{trained_on}")
    network.summary()
    return 0


# --- study learning-rate --------------------------------------------------------
def add_study(commands):
    parser = commands.add_parser(
        "study", help="experiments that teach: study learning-rate",
        description="study learning-rate: train the same logistic regression with several learning rates and "
                    "draw their cost curves on one figure — the slow crawl, the good one, the overshoot.",
        epilog="examples:\n  neuronet study learning-rate\n"
               "  neuronet study learning-rate --rates 0.001,0.1,1,30 --iterations 500 --output lr.png",
        formatter_class=RAW)
    parser.add_argument("topic", choices=["learning-rate"], help="what to study")
    parser.add_argument("--data", default="breast-cancer", help="dataset (default: breast-cancer)")
    parser.add_argument("--rates", type=_rates, default=[0.0001, 0.01, 0.5, 50.0], metavar="LR,LR",
                        help="learning rates to compare (default: 0.0001,0.01,0.5,50)")
    parser.add_argument("--iterations", type=_positive_int, default=300, help="gradient-descent iterations (default: 300)")
    parser.add_argument("--output", default=os.path.join("neuronet-runs", "learning_rate_study.png"), metavar="FILE",
                        help="the figure (default: neuronet-runs/learning_rate_study.png)")
    parser.set_defaults(run=run_study)


def _outcome(costs, diverged):
    costs = np.asarray(costs)
    if diverged:
        return "diverges"
    if np.mean(np.diff(costs) > 0) > 0.1:
        return "overshoots and oscillates"
    if costs[-1] > 0.5 * costs[0]:
        return "crawls"
    return "converges"


def run_study(args):
    from . import LogisticRegression, TrainingDiverged, plots

    dataset = load_data(args.data)
    X = dataset.flat
    X = preprocess(standardizer(dataset, X), X)
    y = dataset.y if len(dataset.class_names) == 2 else (dataset.y == dataset.y[0]).astype(int)
    curves = {}
    print(f"Logistic regression on {dataset.name}, {args.iterations} iterations of gradient descent")
    for rate in args.rates:
        model = LogisticRegression(learning_rate=rate, max_iter=args.iterations, tol=0, random_state=0)
        try:
            costs, diverged = model.fit(X, y).loss_curve_, False
        except TrainingDiverged as error:
            costs, diverged = error.history["loss"], True
        curves[rate] = (costs, _outcome(costs, diverged))
        print(f"  learning rate {rate:<10g} cost {costs[0]:.4f} → {costs[-1]:.4g}   {curves[rate][1]}")
    print(f"figure written to {plots.save(plots.learning_rate_study(curves), args.output)}")
    return 0


# --- gradcheck ------------------------------------------------------------------
def add_gradcheck(commands):
    parser = commands.add_parser(
        "gradcheck", help="check backpropagation against finite differences",
        description="Compare every layer's backpropagated gradient with central finite differences in float64 "
                    "and print the relative error per parameter (correct backprop: below 1e-6). Without a model, "
                    "a small demonstration network is checked.",
        epilog="examples:\n  neuronet gradcheck\n  neuronet gradcheck neuronet-runs/model.npz --entries 10",
        formatter_class=RAW)
    parser.add_argument("model", nargs="?", help="a model file written by neuronet train")
    parser.add_argument("--samples", type=_positive_int, default=4, help="samples in the checked batch (default: 4)")
    parser.add_argument("--entries", type=_positive_int, default=20,
                        help="randomly chosen entries checked per parameter array (default: 20)")
    parser.set_defaults(run=run_gradcheck)


def run_gradcheck(args):
    from . import nn
    from .gradcheck import check_network
    from .network import Sequential

    rng = np.random.default_rng(0)
    if args.model:
        model, _, _ = load_model(args.model)
        trained = getattr(model, "network_", model)
        config = {**trained.get_config(), "dtype": "float64"}
        network = Sequential.from_config(config)
        network.set_weights(trained.get_weights())
    else:
        network = nn.Sequential([nn.Dense(8), nn.Tanh(), nn.Dense(6), nn.ReLU(), nn.Dense(3), nn.Softmax()],
                                input_shape=(5,), dtype="float64", random_state=0)
    x = rng.uniform(0, 1, size=(args.samples, *network.input_shape))
    outputs = network.output_shape[0]
    loss = nn.BinaryCrossEntropy() if outputs == 1 else nn.CrossEntropy()
    target = rng.integers(0, max(outputs, 2), size=args.samples)
    errors = check_network(network, x, target, loss, entries=args.entries)
    print(f"finite-difference check, float64, {args.samples} samples, up to {args.entries} entries per array")
    for key, error in errors.items():
        index, name = key.split("/")
        verdict = "ok" if error < 1e-6 else "MISMATCH"
        print(f"  layer {index} {type(network.layers[int(index)]).__name__:<8} {name:<8} relative error {error:.2e}  {verdict}")
    worst = max(errors.values())
    print(f"worst {worst:.2e}: " + ("backpropagation agrees with finite differences" if worst < 1e-6 else "gradients disagree"))
    return 0 if worst < 1e-6 else 1


# --- rl ----------------------------------------------------------------------------
def add_rl(commands):
    parser = commands.add_parser(
        "rl", help="deep reinforcement learning: a policy network learns CartPole from rewards",
        description="Train a policy-gradient agent (REINFORCE with a learned value baseline; both networks are "
                    "neuronet networks) on gymnasium's CartPole-v1 until the average return of 100 episodes reaches "
                    "475, save the policy and draw its learning curve; or, with --play, run a saved policy greedily "
                    "for 100 episodes. Needs: pip install 'neuronet[rl]'.",
        epilog="examples:\n  neuronet rl cartpole\n  neuronet rl cartpole --seed 3 --episodes 1500\n"
               "  neuronet rl cartpole --play neuronet-runs/cartpole.npz", formatter_class=RAW)
    parser.add_argument("environment", choices=["cartpole"], help="the task (CartPole-v1)")
    parser.add_argument("--episodes", type=_positive_int, default=1000, help="most episodes to train (default: 1000)")
    parser.add_argument("--hidden", type=_sizes, default=(64,), metavar="N,N", help="hidden layers (default: 64)")
    parser.add_argument("--learning-rate", type=_positive_float, default=0.01, metavar="LR",
                        help="Adam step size of the policy (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of networks, actions and environment (default: 0)")
    parser.add_argument("--output", default=os.path.join("neuronet-runs", "cartpole.npz"), metavar="FILE",
                        help="where to save the policy (default: neuronet-runs/cartpole.npz)")
    parser.add_argument("--play", metavar="MODEL", help="run a saved policy greedily instead of training")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_rl)


def run_rl(args):
    from tqdm.auto import tqdm

    from . import plots, rl, save

    env = rl.make_env("CartPole-v1")
    if args.play:
        policy, _, _ = load_model(args.play)
        if getattr(policy, "input_shape", None) != env.observation_space.shape:
            raise UserError(f"{args.play} is not a CartPole policy (it takes {getattr(policy, 'input_shape', '?')})")
        print(f"greedy policy from {args.play}: average return {rl.evaluate(policy, env, 100, seed=args.seed):.1f} "
              f"over 100 episodes (the most is 500; solved is 475)")
        return 0
    agent = rl.PolicyGradientAgent(env.observation_space.shape[0], env.action_space.n, hidden=args.hidden,
                                   learning_rate=args.learning_rate, random_state=args.seed)
    bar = tqdm(total=args.episodes, unit="episode", disable=args.quiet, dynamic_ncols=True)

    def progress(episode, episode_return, average):
        bar.update(1)
        bar.set_postfix({"return": f"{episode_return:.0f}", "avg100": f"{average:.1f}"}, refresh=False)

    try:
        returns = agent.train(env, args.episodes, solved_at=rl.SOLVED["CartPole-v1"], seed=args.seed, progress=progress)
    finally:
        bar.close()
    solved = rl.first_solved(returns, rl.SOLVED["CartPole-v1"])
    print(f"{len(returns)} episodes; " + (f"solved at episode {solved} (100-episode average ≥ 475)" if solved
                                          else f"not solved: last 100-episode average {np.mean(returns[-100:]):.1f}"))
    save(agent.policy, args.output, extra={"meta": {"environment": "CartPole-v1", "returns": returns}})
    curve = plots.save(plots.episode_returns(returns, rl.SOLVED["CartPole-v1"], title="REINFORCE on CartPole-v1"),
                       os.path.splitext(args.output)[0] + "_returns.png")
    print(f"greedy policy: average return {agent.evaluate(env, 100, seed=10_000 + args.seed):.1f} over 100 episodes")
    print(f"policy saved to {args.output}; learning curve in {curve}")
    print(f"next: neuronet rl cartpole --play {args.output}")
    return 0


# --- main -------------------------------------------------------------------------
def make_parser():
    parser = argparse.ArgumentParser(
        prog="neuronet", description="Neural networks from first principles: train, inspect and use models.",
        epilog=EPILOG, formatter_class=RAW)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"neuronet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (add_train, add_evaluate, add_predict, add_summary, add_study, add_gradcheck, add_rl):
        add(commands)
    return parser


def main(argv=None):
    parser = make_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 0
    from .io import ModelFileError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.filterwarnings("always", message="skipped .* not readable images")
            warnings.showwarning = lambda message, *rest: print(f"warning: {message}", file=sys.stderr)
            return args.run(args)
    except BrokenPipeError:  # the reader of our output went away (e.g. | head)
        return 0
    except (UserError, ModelFileError, ValueError, OSError) as error:
        print(f"neuronet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
