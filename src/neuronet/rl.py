"""Deep reinforcement learning: the same networks, trained from rewards.

A policy-gradient agent (REINFORCE with a learned value baseline). The policy is a
``neuronet.nn`` network ending in a softmax over the actions; after each episode
the return that followed every step, G_t = Σ_k γᵏ r_{t+k}, is compared with what a
second network, the value network V(s), expected; the difference is the advantage
A_t = G_t − V(s_t). The policy then takes one gradient step on the
:class:`~neuronet.losses.PolicyGradient` loss (actions that did better than expected
become more likely), and the value network one step on the squared error
(V(s_t) − G_t)². Both use the library's own backpropagation and optimizers.

Environments follow gymnasium's API (``reset(seed=) → (obs, info)``,
``step(a) → (obs, reward, terminated, truncated, info)``); CartPole-v1 needs the
optional extra: ``pip install 'neuronet[rl]'`` (``pip install '.[rl]'`` in a checkout
that is not installed).
"""

from __future__ import annotations

from collections import deque
from numbers import Real

import numpy as np
from scipy.signal import lfilter

from . import nn
from .extras import install_command
from .training import TrainingDiverged, gradient_step
from .validation import Interval, check_parameter

SOLVED = {"CartPole-v1": 475.0}


def make_env(name="CartPole-v1"):
    try:
        import gymnasium
    except ImportError:
        raise ValueError(f"reinforcement learning needs gymnasium: {install_command('rl')}") from None
    try:
        return gymnasium.make(name)
    except gymnasium.error.Error as error:
        raise ValueError(f"cannot make environment {name!r}: {error}") from None


def discounted_returns(rewards, gamma):
    """G_t = r_t + γ G_{t+1}, for every step of an episode at once (a linear filter)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return lfilter([1.0], [1.0, -gamma], rewards[::-1])[::-1]


class PolicyGradientAgent:
    """REINFORCE with a learned value baseline.

    Parameters
    ----------
    observation_size, n_actions : int
    hidden : tuple of int, default (64,)
        Hidden layers (tanh) of both the policy and the value network.
    learning_rate, value_learning_rate : float
        Adam step sizes of the policy and the value network.
    gamma : float, default 0.99
        Discount of future rewards.
    entropy : float, default 0.01
        Weight β of the entropy bonus that keeps the policy exploring.
    random_state : int or None
        Seeds the networks and the action sampling.
    """

    def __init__(self, observation_size, n_actions, hidden=(64,), learning_rate=0.01, value_learning_rate=0.01,
                 gamma=0.99, entropy=0.01, random_state=None):
        check_parameter("gamma", gamma, [Interval(Real, 0, 1, closed="right")], "PolicyGradientAgent")
        seeds = np.random.SeedSequence(random_state).spawn(3)
        self.rng = np.random.default_rng(seeds[0])
        self.gamma = float(gamma)
        self.policy = self._network(observation_size, hidden, [nn.Dense(n_actions), nn.Softmax()], seeds[1])
        self.value = self._network(observation_size, hidden, [nn.Dense(1)], seeds[2])
        self.policy_loss, self.value_loss = nn.PolicyGradient(entropy), nn.MeanSquaredError()
        self.policy_optimizer = nn.Adam(learning_rate)
        self.value_optimizer = nn.Adam(value_learning_rate)

    @staticmethod
    def _network(observation_size, hidden, head, seed):
        layers = [layer for units in hidden for layer in (nn.Dense(units), nn.Tanh())]
        return nn.Sequential(layers + head, input_shape=(observation_size,), dtype="float64",
                             random_state=int(seed.generate_state(1)[0]))

    def act(self, observation, greedy=False):
        """Sample an action from π(· | s), or take the most likely one."""
        if greedy:
            return likeliest_action(self.policy, observation)
        probabilities = self.policy.forward(np.asarray(observation, dtype=np.float64)[None])[0]
        return int(min(np.searchsorted(np.cumsum(probabilities), self.rng.random()), len(probabilities) - 1))

    def learn(self, observations, actions, rewards):
        """One policy step and one value step from a finished episode; returns the losses."""
        observations = np.asarray(observations, dtype=np.float64)
        returns = discounted_returns(rewards, self.gamma)
        advantages = returns - self.value.forward(observations).ravel()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss, _ = gradient_step(self.policy, self.policy_loss, self.policy_optimizer, observations,
                                       (np.asarray(actions), advantages))
        value_loss, _ = gradient_step(self.value, self.value_loss, self.value_optimizer, observations,
                                      returns[:, None])
        self.policy.clear()  # nothing of the episode stays in the networks
        self.value.clear()
        if not (np.isfinite(policy_loss) and np.isfinite(value_loss)):
            raise TrainingDiverged(f"reinforcement learning diverged (policy loss {policy_loss}, value loss "
                                   f"{value_loss}); try a smaller learning rate than "
                                   f"{self.policy_optimizer.learning_rate:g}")
        return policy_loss, value_loss

    def run_episode(self, env, greedy=False, seed=None):
        """Play one episode; returns (observations, actions, rewards)."""
        return play_episode(env, lambda observation: self.act(observation, greedy), seed)

    def train(self, env, episodes=1000, solved_at=None, window=100, seed=None, progress=None):
        """Learn for up to ``episodes`` episodes; stop once the ``window``-episode average
        return reaches ``solved_at``. Returns the list of episode returns.

        ``progress(episode, episode_return, average)`` is called after every episode.
        """
        returns, recent = [], deque(maxlen=window)
        for episode in range(episodes):
            observations, actions, rewards = self.run_episode(env, seed=seed if episode == 0 else None)
            self.learn(observations, actions, rewards)
            returns.append(float(np.sum(rewards)))
            recent.append(returns[-1])
            if progress is not None:
                progress(episode, returns[-1], float(np.mean(recent)))
            if solved_at is not None and len(recent) == window and np.mean(recent) >= solved_at:
                break
        return returns

    def evaluate(self, env, episodes=100, seed=None):
        return evaluate(self.policy, env, episodes, seed)


def play_episode(env, choose, seed=None):
    """Play one episode, taking ``choose(observation)`` at every step; returns the
    (observations, actions, rewards) of its steps."""
    observation, _ = env.reset(seed=seed)
    observations, actions, rewards = [], [], []
    done = False
    while not done:
        action = choose(observation)
        observations.append(observation)
        actions.append(action)
        observation, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        done = terminated or truncated
    return observations, actions, rewards


def likeliest_action(policy, observation):
    """The greedy action: the one with the highest score (the softmax keeps the order,
    so the logits suffice)."""
    return int(policy.logits(np.asarray(observation, dtype=np.float64)[None])[0].argmax())


def evaluate(policy, env, episodes=100, seed=None):
    """Average return of a policy network played greedily (always its likeliest action)."""
    returns = [np.sum(play_episode(env, lambda observation: likeliest_action(policy, observation),
                                   None if seed is None else seed + episode)[2])
               for episode in range(episodes)]
    return float(np.mean(returns))


def first_solved(returns, threshold, window=100):
    """The episode (1-based) at which the ``window``-episode average first reaches
    ``threshold``, or None."""
    if len(returns) < window:
        return None
    averages = np.convolve(returns, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(averages >= threshold)
    return int(hits[0]) + window if hits.size else None
