"""Optimisation beyond SGD and Adam: AdamW, RMSprop, gradient clipping, learning-rate schedules
and ReduceLROnPlateau, each checked against PyTorch in float64, by learning, and by an
interrupted run that resumes to the same bits as an uninterrupted one."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neuronet import nn
from neuronet.optimizers import CosineDecay, make_optimizer
from neuronet.training import TrainingInterrupted

STEPS = 20


def torch_module():
    return pytest.importorskip("torch", reason="the PyTorch parity tests need torch: pip install torch==2.13.0")


def gradients(size, steps=STEPS, seed=0):
    """A sequence of gradients of varied scale, the same for both libraries."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=size) * rng.choice([0.01, 1.0, 30.0], size=size) for _ in range(steps)]


def torch_steps(torch, make, start, mask, grads, clip=None):
    """PyTorch's parameters after each step on ``grads``: the masked entries (weights) in one
    tensor, the others (biases) in another, so that a group may spare them."""
    weights = torch.tensor(start[mask], requires_grad=True)
    biases = torch.tensor(start[~mask], requires_grad=True)
    optimizer = make([weights, biases])
    for grad in grads:
        weights.grad, biases.grad = torch.tensor(grad[mask]), torch.tensor(grad[~mask])
        if clip is not None:
            clip([weights, biases])
        optimizer.step()
    result = np.empty_like(start)
    result[mask], result[~mask] = weights.detach().numpy(), biases.detach().numpy()
    return result


def neuronet_steps(optimizer, start, mask, grads):
    parameters, weights = start.copy(), None if mask is None else mask.astype(np.float64)
    for grad in grads:
        optimizer.step(parameters, grad.copy(), weights)
    return parameters


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    start = rng.normal(size=40)
    mask = np.zeros(40, dtype=bool)
    mask[:30] = True  # 30 weights, then 10 biases
    return start, mask, gradients(40)


@pytest.mark.parametrize("decay_biases", [False, True])
def test_adamw_takes_pytorchs_steps_with_its_decay_on_the_weights_or_on_every_parameter(problem, decay_biases):
    torch = torch_module()
    start, mask, grads = problem

    def make(params):
        weights, biases = params
        return torch.optim.AdamW([{"params": [weights]},
                                  {"params": [biases], "weight_decay": 0.1 if decay_biases else 0.0}],
                                 lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)

    expected = torch_steps(torch, make, start, mask, grads)
    optimizer = nn.AdamW(0.05, beta1=0.8, beta2=0.99, epsilon=1e-6, weight_decay=0.1, decay_biases=decay_biases)
    np.testing.assert_allclose(neuronet_steps(optimizer, start, mask, grads), expected, rtol=1e-10, atol=1e-12)


def test_adamw_without_a_mask_decays_the_whole_array_and_without_decay_is_adam(problem):
    start, mask, grads = problem
    every = neuronet_steps(nn.AdamW(0.05, weight_decay=0.1, decay_biases=True), start, mask, grads)
    np.testing.assert_array_equal(neuronet_steps(nn.AdamW(0.05, weight_decay=0.1), start, None, grads), every)
    np.testing.assert_array_equal(neuronet_steps(nn.AdamW(0.05, weight_decay=0.1), start, np.ones_like(mask), grads),
                                  every)
    np.testing.assert_array_equal(neuronet_steps(nn.AdamW(0.05, weight_decay=0.0), start, mask, grads),
                                  neuronet_steps(nn.Adam(0.05), start, mask, grads))


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.9, False), (0.0, True), (0.5, True)])
def test_rmsprop_takes_pytorchs_steps(problem, momentum, centered):
    torch = torch_module()
    start, mask, grads = problem
    expected = torch_steps(torch, lambda params: torch.optim.RMSprop(params, lr=0.01, momentum=momentum,
                                                                    centered=centered), start, mask, grads)
    optimizer = nn.RMSprop(0.01, momentum=momentum, centered=centered)
    assert (optimizer.rho, optimizer.epsilon) == (0.99, 1e-8)  # PyTorch's alpha and eps
    np.testing.assert_allclose(neuronet_steps(optimizer, start, mask, grads), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("limit", [0.5, 1e6])  # clipped at every step, and never
def test_clipping_by_global_norm_is_pytorchs_clip_grad_norm(problem, limit):
    torch = torch_module()
    start, mask, grads = problem
    expected = torch_steps(torch, lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9), start, mask, grads,
                           clip=lambda params: torch.nn.utils.clip_grad_norm_(params, limit))
    optimizer = nn.SGD(0.1, momentum=0.9, clip_norm=limit)
    np.testing.assert_allclose(neuronet_steps(optimizer, start, mask, grads), expected, rtol=1e-10, atol=1e-12)
    clipped = nn.SGD(clip_norm=limit).clip(grads[0].copy())
    assert np.linalg.norm(clipped) <= limit and np.allclose(clipped / np.linalg.norm(clipped),
                                                            grads[0] / np.linalg.norm(grads[0]))


def test_clipping_by_value_is_pytorchs_clip_grad_value_and_comes_before_the_norm(problem):
    torch = torch_module()
    start, mask, grads = problem
    expected = torch_steps(torch, lambda params: torch.optim.Adam(params, lr=0.01), start, mask, grads,
                           clip=lambda params: torch.nn.utils.clip_grad_value_(params, 0.5))
    np.testing.assert_allclose(neuronet_steps(nn.Adam(0.01, clip_value=0.5), start, mask, grads), expected,
                               rtol=1e-10, atol=1e-12)

    def both(params):
        torch.nn.utils.clip_grad_value_(params, 0.5)
        torch.nn.utils.clip_grad_norm_(params, 1.0)

    expected = torch_steps(torch, lambda params: torch.optim.RMSprop(params, lr=0.01), start, mask, grads, clip=both)
    np.testing.assert_allclose(neuronet_steps(nn.RMSprop(0.01, clip_value=0.5, clip_norm=1.0), start, mask, grads),
                               expected, rtol=1e-10, atol=1e-12)


# --- schedules -------------------------------------------------------------------------
def torch_rates(torch, make_scheduler, rate, steps):
    """The learning rate of each of ``steps`` steps of PyTorch's scheduler."""
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=rate)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


SCHEDULES = {
    "step decay": (lambda: nn.StepDecay(0.1, step_size=7, gamma=0.5), 0.1,
                   lambda torch, o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    "exponential decay": (lambda: nn.ExponentialDecay(0.1, gamma=0.9), 0.1,
                          lambda torch, o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "cosine decay": (lambda: CosineDecay(0.1, 30), 0.1,
                     lambda torch, o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30)),
    "one cycle": (lambda: nn.OneCycle(0.1, total_steps=30), 0.1,
                  lambda torch, o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=30,
                                                                       cycle_momentum=False)),
    "one cycle, linear, three phases": (
        lambda: nn.OneCycle(0.2, total_steps=30, pct_start=0.25, div_factor=10, final_div_factor=100,
                            anneal="linear", three_phase=True), 0.2,
        lambda torch, o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=30, pct_start=0.25,
                                                             div_factor=10, final_div_factor=100,
                                                             anneal_strategy="linear", three_phase=True,
                                                             cycle_momentum=False)),
    "warm-up to a constant": (lambda: nn.WarmUp(0.1, warmup_steps=5), 0.1,
                              lambda torch, o: torch.optim.lr_scheduler.LinearLR(o, total_iters=5)),
    "warm-up, then cosine": (
        lambda: nn.WarmUp(CosineDecay(0.1, 20), warmup_steps=5, start_factor=0.1), 0.1,
        lambda torch, o: torch.optim.lr_scheduler.SequentialLR(
            o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
                torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)], milestones=[5])),
    "warm-up, then step decay": (
        lambda: nn.WarmUp(nn.StepDecay(0.1, 4), warmup_steps=3), 0.1,
        lambda torch, o: torch.optim.lr_scheduler.SequentialLR(
            o, [torch.optim.lr_scheduler.LinearLR(o, total_iters=3),
                torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.1)], milestones=[3])),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_schedule_gives_pytorchs_learning_rates(name):
    torch = torch_module()
    make, rate, make_torch = SCHEDULES[name]
    expected = torch_rates(torch, lambda optimizer: make_torch(torch, optimizer), rate, 30)
    schedule = make()
    np.testing.assert_allclose([schedule(k) for k in range(30)], expected, rtol=1e-10, atol=1e-15)


def test_one_cycle_starts_at_max_over_25_and_ends_ten_thousand_times_lower_then_stays():
    cycle = nn.OneCycle(0.1, total_steps=100)
    rates = np.array([cycle(k) for k in range(120)])
    assert rates[0] == pytest.approx(0.1 / 25) and rates.max() == pytest.approx(0.1)
    assert int(rates.argmax()) == 29  # the peak at pct_start · T − 1
    assert rates[99] == pytest.approx(0.1 / 25 / 1e4) and np.all(rates[99:] == rates[99])


def plateau_values():
    """A monitored loss that falls, stalls, falls a little (less than 10⁻⁴ relative) and falls again."""
    return [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6, *[0.6] * 14]


class _Trainer:
    """Just what ReduceLROnPlateau reads: an optimizer."""

    def __init__(self, rate):
        self.optimizer = nn.SGD(rate)


@pytest.mark.parametrize("settings", [
    dict(), dict(patience=2), dict(patience=1, cooldown=2), dict(patience=0, factor=0.5, min_lr=0.02),
    dict(patience=1, threshold=0.05, threshold_mode="abs"), dict(patience=1, mode="max"),
    dict(patience=1, threshold=0.0)])
def test_reduce_lr_on_plateau_reduces_when_pytorchs_does(settings):
    torch = torch_module()
    values = plateau_values()
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **settings)
    plateau = nn.ReduceLROnPlateau("loss", **settings)
    plateau.trainer = _Trainer(0.1)
    plateau.on_train_begin()
    ours, theirs = [], []
    for value in values:
        optimizer.step()
        scheduler.step(value)
        plateau.on_epoch_end(0, {"loss": value})
        theirs.append(optimizer.param_groups[0]["lr"])
        ours.append(plateau.trainer.optimizer.learning_rate)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert len(set(theirs)) > 1  # the rate was reduced


# --- in training ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, random_state=0, stratify=y)


def mlp(seed=0, dtype="float32"):
    return nn.Sequential([nn.Dense(32), nn.ReLU(), nn.Dense(10), nn.Softmax()], input_shape=(64,),
                         random_state=seed, dtype=dtype)


@pytest.mark.parametrize("optimizer, bar", [  # reached: 0.980, 0.964, 0.971
    (lambda: nn.AdamW(0.01, weight_decay=0.01), 0.97),
    (lambda: nn.RMSprop(0.003), 0.95),
    (lambda: nn.RMSprop(0.001, momentum=0.9, centered=True, clip_norm=1.0), 0.96),
], ids=["AdamW", "RMSprop", "RMSprop centered with momentum and clipping"])
def test_an_mlp_learns_digits_with_adamw_and_rmsprop(digits, optimizer, bar):
    """32 ReLU units, 15 epochs of minibatches of 32, on 1347 digits; accuracy on the other 450."""
    X_train, X_test, y_train, y_test = digits
    net = mlp()
    net.fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=optimizer(), epochs=15, batch_size=32,
            random_state=0)
    accuracy = np.mean(net.predict(X_test).argmax(axis=1) == y_test)
    assert accuracy >= bar, accuracy


def test_adamw_shrinks_the_weights_and_leaves_the_biases_to_the_gradient(digits):
    X_train, _, y_train, _ = digits
    norms = {}
    for decay in (0.0, 0.5):
        net = mlp()
        net.fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=nn.AdamW(0.01, weight_decay=decay), epochs=5,
                random_state=0)
        norms[decay] = np.linalg.norm(net.layers[0].params["weights"])
    assert norms[0.5] < 0.9 * norms[0.0]


def test_a_per_step_schedule_sets_the_rate_of_every_minibatch(digits):
    X_train, _, y_train, _ = digits
    rates = []

    class Watch(nn.Callback):
        changes_training = False

        def on_batch_end(self, batch, logs):
            rates.append(self.trainer.optimizer.learning_rate)

    steps = 3 * -(-len(X_train) // 100)
    cycle = nn.OneCycle(0.05, total_steps=steps)
    mlp().fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.05), epochs=3, batch_size=100,
              callbacks=[nn.LearningRateScheduler(cycle, per="step"), Watch()], random_state=0)
    assert rates == [cycle(k) for k in range(steps)]


class CtrlC(nn.Callback):
    """Presses Ctrl-C after the given minibatch of the given epoch."""

    changes_training = False

    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, batch, logs):
        if (self.trainer.epoch, batch) == self.at:
            self.trainer._interrupt_requested = True


def steered_run(digits, steering, optimizer, epochs=6, extra=(), **fit):
    X_train, X_test, y_train, y_test = digits
    net = mlp(dtype="float64")
    history = net.fit(X_train[:300], y_train[:300], loss=nn.CrossEntropy(), optimizer=optimizer, epochs=epochs,
                      batch_size=64, callbacks=[*steering(), *extra], validation_data=(X_test, y_test),
                      random_state=0, **fit)
    return net, history


RUNS = {
    "AdamW, warm-up then cosine per step": (
        lambda: nn.AdamW(0.01, weight_decay=0.05, clip_norm=1.0),
        lambda: [nn.LearningRateScheduler(nn.WarmUp(CosineDecay(0.01, 25), warmup_steps=5), per="step")]),
    "RMSprop, one cycle per step": (
        lambda: nn.RMSprop(0.01, momentum=0.5, centered=True, clip_value=0.1),
        lambda: [nn.LearningRateScheduler(nn.OneCycle(0.01, total_steps=30), per="step")]),
    "SGD, step decay per epoch": (
        lambda: nn.SGD(0.5, momentum=0.9, nesterov=True),
        lambda: [nn.LearningRateScheduler(nn.StepDecay(0.5, 2, 0.5))]),
    "SGD, reduce on plateau": (
        lambda: nn.SGD(0.5, momentum=0.9),
        lambda: [nn.ReduceLROnPlateau("val_loss", patience=0, factor=0.5, threshold=0.05, cooldown=1)]),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_an_interrupted_run_resumes_to_the_bits_of_an_uninterrupted_one(digits, tmp_path, name):
    make_optimizer, steering = RUNS[name]
    straight_optimizer = make_optimizer()
    straight, straight_history = steered_run(digits, steering, straight_optimizer)
    path = tmp_path / "run.ckpt"
    with pytest.raises(TrainingInterrupted):
        steered_run(digits, steering, make_optimizer(), extra=[CtrlC(2, 1), nn.Checkpoint(path)])
    optimizer = make_optimizer()
    resumed, history = steered_run(digits, steering, optimizer, extra=[nn.Checkpoint(path, resume=True)])
    np.testing.assert_array_equal(resumed.flat_parameters()[0], straight.flat_parameters()[0])
    assert history.history == straight_history.history
    assert optimizer.learning_rate == straight_optimizer.learning_rate < make_optimizer().learning_rate


def test_reduce_lr_on_plateau_keeps_its_best_value_bad_epochs_and_cooldown_in_the_checkpoint(digits, tmp_path):
    plateau = nn.ReduceLROnPlateau("val_loss", patience=5, threshold=0.9)
    steered_run(digits, lambda: [plateau], nn.SGD(0.5, momentum=0.9), epochs=3,
                extra=[nn.Checkpoint(tmp_path / "run.ckpt")])
    saved = nn.ReduceLROnPlateau("val_loss", patience=5, threshold=0.9)
    with pytest.raises(TrainingInterrupted):  # put back, then stopped at once
        steered_run(digits, lambda: [saved], nn.SGD(0.5, momentum=0.9), epochs=4,
                    extra=[CtrlC(3, 0), nn.Checkpoint(tmp_path / "run.ckpt", resume=True)])
    assert plateau.state_dict()["best"] < np.inf and (plateau.bad_epochs or plateau.cooldown_left)
    assert saved.state_dict() == plateau.state_dict()


# --- arguments --------------------------------------------------------------------------
@pytest.mark.parametrize("make, words", [
    (lambda: nn.AdamW(weight_decay=-1), "'weight_decay' parameter of AdamW"),
    (lambda: nn.AdamW(decay_biases="yes"), "'decay_biases' parameter of AdamW"),
    (lambda: nn.RMSprop(rho=1.0), "'rho' parameter of RMSprop"),
    (lambda: nn.RMSprop(momentum=-0.1), "'momentum' parameter of RMSprop"),
    (lambda: nn.RMSprop(epsilon=0), "'epsilon' parameter of RMSprop"),
    (lambda: nn.SGD(clip_norm=0), "'clip_norm' parameter of SGD"),
    (lambda: nn.Adam(clip_value=-1.0), "'clip_value' parameter of Adam"),
    (lambda: nn.StepDecay(0.1, step_size=0), "'step_size' parameter of StepDecay"),
    (lambda: nn.ExponentialDecay(0.1, gamma=1.5), "'gamma' parameter of ExponentialDecay"),
    (lambda: nn.WarmUp(0.1, warmup_steps=0), "'warmup_steps' parameter of WarmUp"),
    (lambda: nn.WarmUp("cosine", warmup_steps=3), "WarmUp's after must be a learning rate"),
    (lambda: nn.WarmUp(-0.1, warmup_steps=3), "'after' parameter of WarmUp"),
    (lambda: nn.OneCycle(0.1, total_steps=1), "'total_steps' parameter of OneCycle"),
    (lambda: nn.OneCycle(0.1, total_steps=3), "OneCycle's phases are empty"),
    (lambda: nn.OneCycle(0.1, 100, anneal="cosine"), "'anneal' parameter of OneCycle"),
    (lambda: nn.LearningRateScheduler(CosineDecay(0.1, 5), per="batch"), "'per' parameter of LearningRateScheduler"),
    (lambda: nn.LearningRateScheduler(0.1), "LearningRateScheduler takes a schedule"),
    (lambda: nn.ReduceLROnPlateau(factor=1.0), "'factor' parameter of ReduceLROnPlateau"),
    (lambda: nn.ReduceLROnPlateau(patience=-1), "'patience' parameter of ReduceLROnPlateau"),
    (lambda: nn.ReduceLROnPlateau(mode="up"), "'mode' parameter of ReduceLROnPlateau"),
    (lambda: make_optimizer("adagrad"), "unknown optimizer 'adagrad'"),
])
def test_a_bad_argument_is_one_line_value_error(make, words):
    with pytest.raises(ValueError) as error:
        make()
    assert words in str(error.value) and "\n" not in str(error.value)


def test_reduce_lr_on_plateau_says_what_it_misses(digits):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match="ReduceLROnPlateau monitors 'val_loss', but the logs have"):
        mlp().fit(X_train, y_train, loss=nn.CrossEntropy(), optimizer=nn.SGD(0.1), epochs=1,
                  callbacks=[nn.ReduceLROnPlateau()])


def test_the_new_optimizers_have_names():
    assert isinstance(make_optimizer("adamw", learning_rate=0.01), nn.AdamW)
    assert isinstance(make_optimizer("RMSprop"), nn.RMSprop)


def test_a_dense_layer_computes_a_batch_the_same_whatever_batch_it_saw_first():
    """Leaving out the inputs that are zero in a whole batch is decided batch by batch: a
    resumed run, whose first batch is another, computes each batch as the uninterrupted run."""
    rng = np.random.default_rng(0)
    sparse_batch = rng.normal(size=(16, 40))
    sparse_batch[:, :20] = 0.0  # half of the inputs silent: worth leaving out
    dense_batch = rng.normal(size=(16, 40))
    outputs = []
    for first in (sparse_batch, dense_batch):
        layer = nn.Dense(7)
        layer.build((40,), np.random.default_rng(1), np.float64)
        layer.forward(first, training=True)
        outputs.append([layer.forward(batch, training=True) for batch in (sparse_batch, dense_batch)])
        assert layer._present is None  # the dense batch, last, multiplied whole
    for seen_sparse_first, seen_dense_first in zip(*outputs):
        np.testing.assert_array_equal(seen_sparse_first, seen_dense_first)


def test_two_mpi_ranks_clip_the_summed_gradient_and_reach_the_weights_of_one_process(tmp_path):
    """Clipping by global norm is not linear: each rank clipping its own part would take another
    step. The optimizer clips the gradient that the all-reduce has summed, the same on every rank."""
    import importlib.util
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    mpiexec = next((str(folder / "mpiexec") for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin")
                    if (folder / "mpiexec").is_file()), shutil.which("mpiexec"))
    if importlib.util.find_spec("mpi4py") is None or mpiexec is None:
        pytest.skip("MPI is missing (mpi4py, or an mpiexec beside python or on PATH): pip install 'neuronet[mpi]'")
    sys.path.insert(0, str(here))
    try:
        from optimisation_mpi_target import run
    finally:
        sys.path.remove(str(here))
    out = tmp_path / "two-ranks.npy"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, str(here / "optimisation_mpi_target.py"), str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    alone, together = run(), np.load(out)
    assert np.linalg.norm(together - alone) / np.linalg.norm(alone) <= 1e-10


def test_the_readmes_one_cycle_example_runs_and_reaches_its_accuracy(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example, = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "nn.OneCycle" in block]
    namespace = {}
    exec(example, namespace)
    assert namespace["history"]["val_accuracy"][-1] >= 0.975  # "≈ 0.98"


def test_an_optimizer_pickled_before_clipping_existed_steps_without_clipping():
    import pickle

    old = nn.SGD(0.1)
    del old.clip_norm, old.clip_value  # what a pickle made before the clipping options holds
    parameters = np.ones(3)
    pickle.loads(pickle.dumps(old)).step(parameters, np.full(3, 10.0))
    np.testing.assert_allclose(parameters, 1 - 0.1 * 10.0)
