"""Shared set-up for the benchmarks: MNIST-5k split, BLAS threads, the floor of a step
(its bare matrix products), where a fit's time goes, and prediction timings."""

import contextlib
import io
import os
import time
from collections import defaultdict

import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from neuronet import callbacks, datasets, losses, network, optimizers, regularizers, training

N_TRAIN = 4000


def blas_threads(threads):
    """Pin BLAS (and PyTorch, if present) to ``threads`` threads so ratios are comparable."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    limiter = threadpool_limits(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    return limiter


def one_thread():
    return blas_threads(1)


def mnist_split(images=False):
    data = datasets.load("mnist-5k")
    X = data.X if images else data.flat
    return train_test_split(X, data.y, train_size=N_TRAIN, test_size=1000, random_state=0, stratify=data.y)


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def fit_and_score(model, X, y, seed, test_size):
    """Fit ``model`` on a stratified split (``seed``, ``test_size`` held out); (test accuracy,
    wall seconds, CPU seconds, epochs, max_iter). A fit that ran to max_iter shows in the
    epochs, so its ConvergenceWarning is silenced."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cpu = time.process_time()
        _, seconds = timed(lambda: model.fit(X_train, y_train))
        cpu = time.process_time() - cpu
    return model.score(X_test, y_test), seconds, cpu, model.n_iter_, model.max_iter


def steps_per_epoch(batch_size):
    return -(-N_TRAIN // batch_size)


# --- the floor: the bare matrix products of one step ----------------------------------------------
def floor_seconds(products, repeats=50):
    """The fastest time of doing every product ``(a_shape, b_shape, transpose_a, transpose_b)``
    once, in float32: a step cannot take less. ``transpose_*`` gives the operand as the
    transpose of a C-ordered array, as the layers hand it to BLAS (Xᵀ · ∂L/∂Z)."""
    rng = np.random.default_rng(0)

    def operand(shape, transposed):
        array = rng.standard_normal(shape[::-1] if transposed else shape).astype(np.float32)
        return array.T if transposed else array

    work = [(operand(a, ta), operand(b, tb)) for a, b, ta, tb in products]
    outs = [np.empty((a.shape[0], b.shape[1]), np.float32) for a, b in work]
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for (a, b), out in zip(work, outs):
            np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return best


def dense_step_products(batch_size, sizes):
    """The products of one minibatch step of a stack of Dense layers of ``sizes``
    (inputs first): Z = X·W forward, ∂L/∂W = Xᵀ·∂L/∂Z and, above the first layer,
    ∂L/∂X = ∂L/∂Z·Wᵀ backward (8 products for 784-128-64-10)."""
    products = []
    for index, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        products += [((batch_size, n_in), (n_in, n_out), False, False),
                     ((n_in, batch_size), (batch_size, n_out), True, False)]
        if index:
            products.append(((batch_size, n_out), (n_out, n_in), False, True))
    return products


# --- where the time of a fit goes ---------------------------------------------------------------
# Each phase counts the time spent in these methods (a call inside another phase's counts there).
def _phase_methods():
    loss_classes = [c for c in vars(losses).values() if isinstance(c, type) and issubclass(c, losses.Loss)]
    callback_classes, pending = [], [callbacks.Callback]
    while pending:
        cls = pending.pop()
        callback_classes.append(cls)
        pending += cls.__subclasses__()
    run_hooks = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end")
    return {
        "forward (layers)": [(network.Sequential, "logits")],
        "loss (forward and gradient)": [(c, m) for c in loss_classes for m in ("forward", "backward")],
        "metrics (correct predictions)": [(c, "correct") for c in loss_classes],
        "backward (layers)": [(network.Sequential, "backward")],
        "penalty (L2)": [(regularizers.L2, "value"), (regularizers.L2, "add_gradient")],
        "optimizer": [(optimizers.Optimizer, "step")],
        "divergence guard (per epoch)": [(training.Trainer, "_watch_divergence")],
        "validation": [(training.Trainer, "evaluate")],
        "progress bar (per batch)": [(callbacks.ProgressBar, "on_batch_end")],
        "progress bar (per epoch and run)": [(callbacks.ProgressBar, hook) for hook in run_hooks],
        "callbacks (per batch)": [(c, "on_batch_end") for c in callback_classes if c is not callbacks.ProgressBar],
        "callbacks (per epoch and run)": [(c, hook) for c in callback_classes if c is not callbacks.ProgressBar
                                          for hook in run_hooks],
    }


# Methods that contain phases: the time of each beyond the phases inside it is its own share.
ENCLOSING = {"step": (training.Trainer, "train_step"), "epoch loop": (training.Trainer, "run_epoch")}


class PhaseClock:
    """Time accounting by phase: wraps the methods of each phase (at class level) while
    active, with a few perf_counter calls per wrapped call (microseconds per step)."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._inside = None  # the phase being timed: calls within it count there
        self._patched = []

    def _wrap(self, owner, name, phase, enclosing=False):
        original = owner.__dict__.get(name)
        if original is None:
            return
        clock = self

        def timed(*args, **kwargs):
            if clock._inside is not None and not enclosing:
                return original(*args, **kwargs)
            outer, start = clock._inside, time.perf_counter()
            clock._inside = None if enclosing else phase
            try:
                return original(*args, **kwargs)
            finally:
                clock.seconds[phase] += time.perf_counter() - start
                clock._inside = outer

        setattr(owner, name, timed)
        self._patched.append((owner, name, original))

    def __enter__(self):
        for phase, methods in _phase_methods().items():
            for owner, name in methods:
                self._wrap(owner, name, phase)
        for phase, (owner, name) in ENCLOSING.items():
            self._wrap(owner, name, phase, enclosing=True)
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)

    def breakdown(self):
        """Seconds per phase, the enclosing methods' own time split out: "step glue" (the
        train step beyond its phases) and "batch gathering" (the epoch loop beyond its steps
        and callbacks)."""
        seconds = dict(self.seconds)
        inner = sum(seconds.get(p, 0.0) for p in ("forward (layers)", "loss (forward and gradient)",
                                                  "metrics (correct predictions)", "backward (layers)",
                                                  "penalty (L2)", "optimizer"))
        step = seconds.pop("step", 0.0)
        loop = seconds.pop("epoch loop", 0.0)
        batch_hooks = seconds.get("callbacks (per batch)", 0.0) + seconds.get("progress bar (per batch)", 0.0)
        seconds["step glue (finite checks, flat views)"] = step - inner
        seconds["batch gathering and loop bookkeeping"] = loop - step - batch_hooks
        return seconds


def profile_fit(fit, steps, floor):
    """Run ``fit()`` (with its progress bar sent to a null stream) under a PhaseClock and
    print each phase's time per step, with the floor split out of forward + backward."""
    with PhaseClock() as clock, contextlib.redirect_stderr(io.StringIO()):
        _, total = timed(fit)
    seconds = clock.breakdown()
    layers = seconds.pop("forward (layers)", 0.0) + seconds.pop("backward (layers)", 0.0)
    rows = [("matrix products (the floor)", floor * steps),
            ("forward + backward beyond the floor", layers - floor * steps)]
    rows += sorted(((name, s) for name, s in seconds.items() if s), key=lambda row: -row[1])
    rows.append(("fit set-up, epoch ends, rest", total - sum(s for _, s in rows)))
    print(f"\nwhere one step's time goes ({steps} steps, {total / steps * 1e3:.3f} ms/step, "
          f"{total / (floor * steps):.2f}× the floor):")
    print(f"{'phase':<42}{'ms/step':>9}{'share':>8}")
    for name, s in rows:
        print(f"{name:<42}{s / steps * 1e3:>9.3f}{s / total:>8.1%}")


# --- the tables ---------------------------------------------------------------------------------
def compare(runners, data, batch_sizes, epochs, repeats, floor=None):
    """Run every library at every batch size, ``repeats`` times (the fastest counts),
    print the table and return {(library, batch size): ms/epoch}; ``floor(batch_size)``
    gives the seconds of a step's bare products."""
    rows = []
    for batch_size in batch_sizes:
        step_floor = floor(batch_size) if floor else None
        for name, run in runners.items():
            try:
                seconds, accuracy = min(run(data, batch_size, epochs) for _ in range(repeats))
            except ImportError as error:
                print(f"skipping {name}: {error}")
                continue
            over_floor = seconds / steps_per_epoch(batch_size) / step_floor if floor else float("nan")
            rows.append(((name, f"batch {batch_size}"), seconds * 1000, accuracy, over_floor))
        if floor:
            print(f"floor at batch {batch_size}: {step_floor * 1e3:.3f} ms/step "
                  f"({steps_per_epoch(batch_size)} steps/epoch)")
    report(rows)
    return {(key[0], key[1]): ms for key, ms, _, _ in rows}


def compare_threads(compare_at, thread_counts):
    """``compare_at()`` under each number of BLAS threads, then each library's epoch time
    on the first number ÷ its time on each other (> 1: more threads pay)."""
    times = {}
    for threads in thread_counts:
        blas_threads(threads)
        print(f"\n{threads} thread(s)")
        times[threads] = compare_at()
    first, *others = thread_counts
    for threads in others:
        print(f"\nepoch time on {first} thread(s) ÷ on {threads}:")
        for key, ms in times[first].items():
            if key in times[threads]:
                print(f"{key[0]:<14}{key[1]:<14}{ms / times[threads][key]:>8.2f}")


def report(rows, reference="neuronet"):
    """Print ms/epoch, accuracy, each library's time relative to neuronet's, and its step
    time relative to the floor."""
    base = {key[1:]: ms for key, ms, _, _ in rows if key[0] == reference}
    print(f"{'library':<14}{'setting':<14}{'ms/epoch':>10}{'accuracy':>10}{'× neuronet time':>17}"
          f"{'step ÷ floor':>14}")
    for key, ms, accuracy, over_floor in rows:
        ratio = ms / base[key[1:]] if key[1:] in base else float("nan")
        print(f"{key[0]:<14}{str(key[1]):<14}{ms:>10.1f}{accuracy:>10.3f}{ratio:>17.2f}{over_floor:>14.2f}")


def seconds_per_call(predict, X, batch_size, repeats):
    """The fastest of ``repeats`` passes over X in batches of ``batch_size``, per call."""
    batches = [X[start : start + batch_size] for start in range(0, len(X), batch_size)]
    best = min(timed(lambda: [predict(batch) for batch in batches])[1] for _ in range(repeats))
    return best / len(batches)


def compare_prediction(predictors, X, repeats, batch_sizes=(1, 1000)):
    """Per-call time and throughput of each predictor at each batch size, side by side,
    with PyTorch's time ÷ each library's (> 1: faster than PyTorch)."""
    print(f"\n{'library':<24}{'batch':>6}{'µs/call':>10}{'samples/s':>12}{'× pytorch speed':>17}")
    for batch_size in batch_sizes:
        times = {name: seconds_per_call(predict, X, batch_size, repeats) for name, predict in predictors.items()}
        for name, seconds in times.items():
            speed = times.get("pytorch no_grad", np.nan) / seconds
            print(f"{name:<24}{batch_size:>6}{seconds * 1e6:>10.1f}{batch_size / seconds:>12,.0f}{speed:>17.2f}")


def seed_everything(seed):
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def torch_epoch(net, optimizer, loss_fn, X, y, batch_size):
    """One epoch of PyTorch's minibatch loop: reshuffled, then forward, cross-entropy,
    backward and a step per minibatch of ``batch_size``."""
    import torch

    order = torch.randperm(len(X))
    for start in range(0, len(X), batch_size):
        index = order[start : start + batch_size]
        optimizer.zero_grad()
        loss_fn(net(X[index]), y[index]).backward()
        optimizer.step()


def torch_fit(net, X_train, y_train, learning_rate, batch_size, epochs, solver="adam"):
    """The same minibatch loop as neuronet's, in PyTorch: Adam (or SGD with Nesterov
    momentum 0.9), cross-entropy, reshuffled every epoch. Returns the seconds per epoch."""
    import torch

    if solver == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()

    def train():
        for _ in range(epochs):
            torch_epoch(net, optimizer, loss_fn, X_train, y_train, batch_size)

    _, seconds = timed(train)
    return seconds / epochs


def torch_accuracy(net, X_test, y_test):
    import torch

    with torch.no_grad():
        return (net(X_test).argmax(1) == y_test).float().mean().item()


def torch_predictor(net):
    """PyTorch's inference: softmax probabilities under ``no_grad``, from a NumPy batch."""
    import torch

    def predict(X):
        with torch.no_grad():
            return torch.softmax(net(torch.from_numpy(X)), dim=1).numpy()

    return predict
