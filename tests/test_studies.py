import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from neuronet.studies import learning_rate_study, outcome


def test_a_cost_that_levels_off_high_converges_not_crawls():
    steps = np.arange(60)
    levelled = 0.51 + 0.06 * np.exp(-steps / 5)  # fell fast to a minimum above half its first value
    slow = 0.69 - 0.0016 * steps  # a straight, slow fall: still far from any minimum
    assert outcome(levelled, diverged=False) == "converges"
    assert outcome(slow, diverged=False) == "crawls"


def test_a_cost_that_ends_above_its_start_overshoots():
    bounced = np.concatenate([[14.3], 14.3 - np.arange(1, 30) * 0.3, [16.3]])  # few rises, but ends higher
    assert outcome(bounced, diverged=False) == "overshoots and oscillates"
    assert outcome([0.7, 0.3], diverged=True) == "diverges"


def test_two_weak_features_step_sizes_named_for_what_they_do():
    data = load_breast_cancer()
    names = list(data.feature_names)
    X = StandardScaler().fit_transform(data.data[:, [names.index("worst texture"),
                                                      names.index("worst fractal dimension")]])
    verdicts = {rate: verdict for rate, _, verdict in learning_rate_study(X, data.target, [0.03, 2, 10, 14], 60)}
    assert verdicts == {0.03: "crawls", 2: "converges", 10: "converges", 14: "overshoots and oscillates"}


def test_a_float32_cost_jittering_at_its_minimum_converges():
    settled = np.float32(0.5114839)
    jitter = np.spacing(settled) * np.tile([1, -1], 25)  # up and down by one unit in the last place
    costs = np.concatenate([[0.6, 0.52, 0.512], settled + jitter]).astype(np.float32).tolist()
    assert outcome(costs, diverged=False) == "converges"
    bouncing = [0.7, 0.6, 0.65, 0.55, 0.6, 0.5, 0.56, 0.48, 0.53, 0.47]  # rises well above rounding
    assert outcome(bouncing, diverged=False) == "overshoots and oscillates"
