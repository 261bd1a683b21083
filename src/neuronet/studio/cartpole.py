"""CartPole in the studio: a policy network learns from rewards, and the page watches it play.

The run is the library's own reinforcement learning loop
(:meth:`neuronet.rl.PolicyGradientAgent.train`) in the run's thread; its ``progress``
callback is the gate, as :class:`~neuronet.studio.run.Run`'s callback is for a network's
training: between two episodes the run takes the page's commands (play, pause, step, speed,
a new settings' stop), waits while paused or paced, and now and then publishes a snapshot:
every episode's return so far and its 100-episode average. A "step" is one episode.

On the page's request (the ``episode`` command) the run plays one episode with the current
policy, greedily (its likeliest action at every step), from the same start every time, in
an environment of its own (training's environment and random draws are left as they were,
so watching changes nothing of what is learned), and sends it frame by frame: each state
and action, and where the cart, the hinge and the pole's tip are in it, as
:func:`neuronet.plots.cartpole_points` computes them (the page draws those points, and the
sizes :mod:`neuronet.plots` declares, sent once in ``ready``).

Without gymnasium, the run ends at once with the command that installs the ``rl`` extra.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from ..extras import install_command
from ..network import Sequential
from .run import WITHOUT_END, Run

ENVIRONMENT = "CartPole-v1"
WINDOW = 100                 # the returns' running average, over this many episodes (solved: ≥ 475 over 100)
WATCH_SEED = 10_000          # the watched episodes start where `neuronet rl`'s evaluation starts: seed + 10 000
EPISODES_PER_EPOCH_STEP = 10  # the page's "step epoch": ten episodes
MOST_SENT = 2000             # a snapshot carries at most this many episodes' returns (evenly spaced, the last one kept)
DESCRIPTION = ("CartPole-v1 (gymnasium): push the cart left or right to keep the pole upright; +1 for every "
               "step it stays up, at most 500 steps. Solved: an average return of 475 over 100 episodes.")


def episode_message(env, policy, seed):
    """One greedy episode of ``policy`` on ``env`` from ``reset(seed=seed)``, as the page
    animates it: per frame the state (x, ẋ, θ, θ̇), the action taken in it (None in the
    last, the state the episode ended in) and the points of :func:`plots.cartpole_points`."""
    from .. import plots, rl

    observations, actions, rewards = rl.play_episode(env, lambda observation: rl.likeliest_action(policy, observation),
                                                     seed)
    states = np.vstack([np.asarray(observations, dtype=np.float64),
                        np.asarray(env.unwrapped.state, dtype=np.float64)[None]])  # where it fell, or step 500
    frames = []
    for state, action in zip(states, [*actions, None]):
        points = plots.cartpole_points(state)
        frames.append({"state": [round(float(v), 5) for v in state], "action": action,
                       **{name: [round(float(v), 5) for v in point] for name, point in points.items()}})
    x, theta = states[-1, 0], states[-1, 2]
    ended = ("the pole leaned past 12°" if abs(theta) > plots.CARTPOLE_ANGLE_LIMIT
             else "the cart left the track" if abs(x) > plots.CARTPOLE_TRACK
             else f"{len(actions)} steps, the most an episode lasts")
    return {"type": "episode", "return": float(np.sum(rewards)), "steps": len(actions), "ended": ended,
            "frames": frames, "seed": seed}


def curve(returns, averages, most=MOST_SENT):
    """The returns curve as a snapshot carries it: every episode's return and running average,
    or, past ``most`` episodes, those of every k-th episode counted back from the last, with
    the episodes' numbers (from 1)."""
    every = -(-len(returns) // most) if returns else 1
    kept = range(len(returns) - 1, -1, -every)[::-1]
    return {"episodes": [i + 1 for i in kept], "returns": [round(returns[i], 1) for i in kept],
            "averages": [round(averages[i], 2) for i in kept]}


def geometry():
    """CartPole's sizes, in its own units, as :mod:`neuronet.plots` declares them."""
    from .. import plots

    return {"track": plots.CARTPOLE_TRACK, "half_pole": plots.CARTPOLE_HALF_POLE,
            "angle_limit": float(plots.CARTPOLE_ANGLE_LIMIT), "cart_width": plots.CART_WIDTH,
            "cart_height": plots.CART_HEIGHT, "pole_width": plots.POLE_WIDTH}


class CartPoleRun(Run):
    """Train a :class:`~neuronet.rl.PolicyGradientAgent` on CartPole in a thread: the page's
    hidden sizes, learning rate and seed; everything else as ``neuronet rl cartpole`` has it."""

    def __init__(self, settings, catalog, publish):
        super().__init__(settings, catalog, publish)
        self.agent = self.env = self.watch_env = None
        self.returns, self.averages = [], []
        self.install = None
        self.started = datetime.now().astimezone()

    # --- the thread --------------------------------------------------------------------
    def _train(self):
        """Episode after episode until the page stops the run (paused between episodes)."""
        self.between_steps()  # paused until the page plays or steps
        self.agent.train(self.env, episodes=WITHOUT_END, seed=self.settings.recipe.seed, progress=self._gate)

    def _prepare(self):
        try:
            import gymnasium  # noqa: F401
        except ImportError:
            self.install = install_command("rl")
            raise ValueError(f"CartPole needs gymnasium, which is not installed: {self.install}, "
                             "then start neuronet studio again") from None
        from .. import rl

        self.env, self.watch_env = rl.make_env(ENVIRONMENT), rl.make_env(ENVIRONMENT)
        self.agent = rl.PolicyGradientAgent(self.env.observation_space.shape[0], self.env.action_space.n,
                                            hidden=self.settings.hidden, learning_rate=self.settings.learning_rate,
                                            random_state=self.settings.recipe.seed)
        self.state = "paused"
        self.publish(self._ready())

    def _ready(self):
        policy = self.agent.policy
        return {"type": "rl_ready", "run": self.number, "environment": ENVIRONMENT, "description": DESCRIPTION,
                "summary": policy.summary(print_fn=None), "parameters": policy.count_params(),
                "value_parameters": self.agent.value.count_params(), "hidden": list(self.settings.hidden),
                "learning_rate": self.settings.learning_rate, "geometry": geometry(), "window": WINDOW,
                "solved_at": self._solved_at(), "seed": self._watch_seed()}

    def _gate(self, episode, episode_return, average):
        """After each episode (``agent.train``'s progress): count it, then the page's turn."""
        self.returns.append(float(episode_return))
        self.averages.append(float(average))
        self.steps += 1
        self._dirty = True
        self.between_steps()

    def _bare_snapshot(self):
        message = {**super()._bare_snapshot(), "rl": True}
        if self.install:
            message["install"] = self.install
        return message

    def _snapshot(self):
        from .. import rl

        return {**self._bare_snapshot(), "episode": len(self.returns), **curve(self.returns, self.averages),
                "solved": rl.first_solved(self.returns, self._solved_at(), WINDOW)}

    def _solved_at(self):
        from .. import rl

        return rl.SOLVED[ENVIRONMENT]

    def _watch_seed(self):
        return WATCH_SEED + self.settings.recipe.seed

    # --- the page's commands -----------------------------------------------------------
    def _on_step(self, unit):
        if self.state not in ("paused", "playing"):
            return
        self.playing, self.state = False, "paused"
        self.budget = 1 if unit == "batch" else EPISODES_PER_EPOCH_STEP
        self._dirty = True

    def _on_episode(self, _):
        """Play one greedy episode of the policy as it is now, and send its frames (once for
        requests that arrived together)."""
        if self.agent is None or any(name == "episode" for name, _ in self._commands):
            return
        message = episode_message(self.watch_env, self.agent.policy, self._watch_seed())
        self.publish({**message, "run": self.number, "after": len(self.returns)})

    def _on_sample(self, _):
        self.publish({"type": "error", "run": self.number,
                      "message": "CartPole learns from whole episodes: step one episode instead"})

    preparing = "the run is still preparing"

    def _can_answer(self):
        return self.agent is not None

    def _on_python(self, answer):
        self._answer(answer, self._python)

    def _fitted_model(self):
        """(policy, extra, file name): a copy of the policy network, saved as ``neuronet rl``
        saves one (``neuronet rl cartpole --play FILE`` plays it)."""
        policy = Sequential.from_config(self.agent.policy.get_config())
        policy.set_weights(self.agent.policy.get_weights())
        settings = (f"hidden {','.join(map(str, self.settings.hidden))}, adam, lr {self.settings.learning_rate:g}, "
                    f"{len(self.returns)} episodes")
        extra = {"environment": ENVIRONMENT, "returns": list(self.returns), "settings": settings,
                 "started": self.started.isoformat(timespec="seconds")}
        return policy, extra, "cartpole-policy.npz"

    def _python(self):
        """The run as a script: the same agent trained for the same episodes, to the same weights."""
        hidden = tuple(self.settings.hidden)
        seed, episodes = self.settings.recipe.seed, len(self.returns)
        return f'''"""CartPole, as the studio trained it: the same policy-gradient agent (REINFORCE with a
learned value baseline), the same seed, the same {episodes} episodes, to the same weights."""

import neuronet
from neuronet import rl

env = rl.make_env("{ENVIRONMENT}")
agent = rl.PolicyGradientAgent(env.observation_space.shape[0], env.action_space.n, hidden={hidden!r},
                               learning_rate={self.settings.learning_rate!r}, random_state={seed})
returns = agent.train(env, episodes={episodes}, seed={seed})
print(f"{{len(returns)}} episodes; the last return {{returns[-1] if returns else 0:.0f}}")
print(f"greedy policy: average return {{agent.evaluate(env, 100, seed={self._watch_seed()}):.1f}} over 100 episodes")
neuronet.save(agent.policy, "cartpole-policy.npz")  # neuronet rl cartpole --play cartpole-policy.npz
'''
