"""The same networks, trained from rewards: a policy gradient on CartPole."""

import re

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import neuronet
from neuronet import nn, rl
from neuronet.cli import main
from neuronet.gradcheck import check_loss, check_network

pytest.importorskip("gymnasium")

RANDOM_POLICY_RETURN = 22.7  # mean of 200 CartPole-v1 episodes with uniformly random actions


@pytest.mark.parametrize("entropy", [0.0, 0.05])
def test_policy_gradient_loss_matches_finite_differences(entropy, rng):
    logits = rng.normal(size=(7, 3))
    target = (rng.integers(0, 3, 7), rng.normal(size=7))
    assert check_loss(nn.PolicyGradient(entropy), logits, target) < 1e-6


def test_policy_gradient_is_advantage_weighted_cross_entropy(rng):
    """Without the entropy term, J = (1/T) Σ A_t · CE(z_t, a_t)."""
    logits, actions, advantages = rng.normal(size=(5, 2)), rng.integers(0, 2, 5), rng.normal(size=5)
    expected = np.mean([a * nn.CrossEntropy()(logits[[t]], actions[[t]]) for t, a in enumerate(advantages)])
    assert nn.PolicyGradient()(logits, (actions, advantages)) == pytest.approx(expected)


def test_policy_network_gradients_end_to_end(rng):
    policy = nn.Sequential([nn.Dense(8), nn.Tanh(), nn.Dense(2), nn.Softmax()], input_shape=(4,), dtype="float64",
                           random_state=0)
    errors = check_network(policy, rng.normal(size=(6, 4)), (rng.integers(0, 2, 6), rng.normal(size=6)),
                           nn.PolicyGradient(0.01))
    assert max(errors.values()) < 1e-6, errors


def test_discounted_returns():
    np.testing.assert_allclose(rl.discounted_returns([1, 1, 1], 0.5), [1.75, 1.5, 1.0])
    np.testing.assert_allclose(rl.discounted_returns([0, 0, 10], 0.9), [8.1, 9.0, 10.0])


def test_a_short_run_learns_well_above_a_random_policy():
    """Seed 0, 100 episodes (about half a second): the last 20 episodes average 87.0
    and the greedy policy 105.5 over 10 episodes, against 22.7 for random actions."""
    with threadpool_limits(1):
        env = rl.make_env()
        agent = rl.PolicyGradientAgent(4, 2, random_state=0)
        returns = agent.train(env, episodes=100, seed=0)
        assert np.mean(returns[:20]) < 60
        assert np.mean(returns[-20:]) >= 60 > 2 * RANDOM_POLICY_RETURN
        assert agent.evaluate(env, 10, seed=500) >= 80


def test_training_is_reproducible_with_a_seed():
    runs = []
    for _ in range(2):
        with threadpool_limits(1):
            runs.append(rl.PolicyGradientAgent(4, 2, random_state=3).train(rl.make_env(), episodes=15, seed=3))
    assert runs[0] == runs[1]


def test_first_solved_finds_the_first_window_at_the_threshold():
    returns = [10] * 50 + [500] * 200
    # episodes 46–145: 95 at 500 and 5 at 10 average 475.5; the window before averages 470.6
    assert rl.first_solved(returns, 475, window=100) == 145
    assert rl.first_solved([500] * 99, 475) is None


def test_cli_trains_saves_plots_and_plays(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["rl", "cartpole", "--episodes", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "30 episodes; not solved" in out and "greedy policy: average return" in out
    assert "next: neuronet rl cartpole --play neuronet-runs/run-1/model.npz" in out
    assert (tmp_path / "neuronet-runs" / "run-1" / "model_returns.png").stat().st_size > 10_000
    assert (tmp_path / "neuronet-runs" / "run-1" / "model_episode.png").stat().st_size > 10_000
    assert re.search(r"one greedy episode \(return \d+\), drawn frame by frame from its states, in "
                     r"neuronet-runs/run-1/model_episode.png", out)
    policy = neuronet.load(tmp_path / "neuronet-runs" / "run-1" / "model.npz")
    assert isinstance(policy.layers[-1], nn.Softmax) and policy.input_shape == (4,)
    assert main(["rl", "cartpole", "--play", "neuronet-runs/run-1/model.npz"]) == 0
    assert "average return" in capsys.readouterr().out
    assert main(["runs"]) == 0
    listed = capsys.readouterr().out.splitlines()[1]
    assert "CartPole-v1" in listed and "policy network" in listed and "30 episodes, greedy return" in listed


def test_playing_a_model_that_is_not_a_policy_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["train", "--epochs", "3", "--quiet"])
    capsys.readouterr()
    assert main(["rl", "cartpole", "--play", "neuronet-runs/run-1/model.npz"]) == 2
    assert "not a CartPole policy" in capsys.readouterr().err


@pytest.mark.parametrize(("steps", "every"), [(9, 1), (12, 1), (13, 2), (60, 10), (200, 20), (500, 50)])
def test_the_reports_episode_is_drawn_in_at_most_twelve_frames_at_round_steps(steps, every):
    """Frames at steps 0, every, 2·every, … and the last; the next smaller round step would draw more than 12."""
    from neuronet.cli.rl import ROUND_STEPS, frame_every

    def frames(k):
        return len(range(0, steps, k)) + ((steps - 1) % k != 0)

    assert frame_every(steps) == every and frames(every) <= 12
    smaller = [k for k in ROUND_STEPS if k < every]
    assert not smaller or frames(smaller[-1]) > 12


def test_the_reports_episode_is_the_trained_policy_played_greedily(tmp_path):
    from neuronet.cli.rl import watched_episode
    with threadpool_limits(1):
        env = rl.make_env()
        agent = rl.PolicyGradientAgent(4, 2, random_state=0)
        agent.train(env, episodes=20, seed=0)
        line = watched_episode(agent, env, 10_000, str(tmp_path / "episode.png"))
        _, _, rewards = agent.run_episode(env, greedy=True, seed=10_000)
    assert line == (f"one greedy episode (return {sum(rewards):.0f}), drawn frame by frame from its states, "
                    f"in {tmp_path / 'episode.png'}")
    assert (tmp_path / "episode.png").stat().st_size > 10_000
