"""neuronet rl: deep reinforcement learning, a policy network learns CartPole from rewards."""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime

import numpy as np

from ..callbacks import redraws_in_place
from ..extras import install_command
from ..persistence import save
from .common import RAW, UserError, load_model, positive_float, positive_int, sizes
from .runs import MODEL, ROOT, new_run

EVERY = 50  # episodes between two progress lines in a pipe or a file (a terminal gets a bar)
MOST_FRAMES = 12  # the report's episode: at most this many frames, at round steps apart
ROUND_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)


def add(commands):
    parser = commands.add_parser(
        "rl", help="deep reinforcement learning: a policy network learns CartPole from rewards",
        description="Train a policy-gradient agent (REINFORCE with a learned value baseline; both networks are "
                    "neuronet networks) on gymnasium's CartPole-v1 until the average return of 100 episodes reaches "
                    "475, save the policy, draw its learning curve and one episode of the trained policy frame by frame; or, with --play, run a saved policy greedily "
                    "for 100 episodes. Each run without --output gets a folder of its own, neuronet-runs/run-N/ "
                    f"(neuronet runs lists them). Needs: {install_command('rl')}.",
        epilog="examples:\n  neuronet rl cartpole\n  neuronet rl cartpole --seed 3 --episodes 1500\n"
               "  neuronet rl cartpole --play neuronet-runs/run-1/model.npz", formatter_class=RAW)
    parser.add_argument("environment", choices=["cartpole"], help="the task (CartPole-v1)")
    parser.add_argument("--episodes", type=positive_int, default=1000, help="most episodes to train (default: 1000)")
    parser.add_argument("--hidden", type=sizes, default=(64,), metavar="N,N", help="hidden layers (default: 64)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.01, metavar="LR",
                        help="Adam step size of the policy (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed of networks, actions and environment (default: 0)")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help=f"where to save the policy (default: {MODEL} in a new run folder, {ROOT}/run-N/); "
                             "its learning curve (_returns.png) and one greedy episode (_episode.png) go beside it")
    parser.add_argument("--play", metavar="MODEL", help="run a saved policy greedily instead of training")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def frame_every(steps, most=MOST_FRAMES):
    """Steps between two drawn frames: the smallest round number that draws at most ``most``
    frames of an episode of ``steps`` steps, as :func:`plots.cartpole_frames` draws them
    (every ``every``-th step, and the last)."""
    for every in ROUND_STEPS:
        if len(range(0, steps, every)) + ((steps - 1) % every != 0) <= most:
            return every
    return max(1, steps - 1)


def watched_episode(agent, env, seed, path):
    """One greedy episode of the trained policy from ``reset(seed=seed)``, drawn frame by frame
    from its states (:func:`plots.cartpole_frames`) into ``path``; the line that says so."""
    from .. import plots

    states, actions, rewards = agent.run_episode(env, greedy=True, seed=seed)
    title = f"The trained policy, greedily: one episode, return {sum(rewards):.0f}"
    plots.save(plots.cartpole_frames(states, actions, every=frame_every(len(states)), per_row=4, title=title), path)
    return f"one greedy episode (return {sum(rewards):.0f}), drawn frame by frame from its states, in {path}"


def run(args):
    from tqdm.auto import tqdm

    from .. import plots, rl  # matplotlib and gymnasium: loaded only for this command

    env = rl.make_env("CartPole-v1")
    if args.play:
        policy = load_model(args.play).model
        if getattr(policy, "input_shape", None) != env.observation_space.shape:
            raise UserError(f"{args.play} is not a CartPole policy (it takes {getattr(policy, 'input_shape', '?')})")
        print(f"greedy policy from {args.play}: average return {rl.evaluate(policy, env, 100, seed=args.seed):.1f} "
              f"over 100 episodes (the most is 500; solved is 475)")
        return 0
    agent = rl.PolicyGradientAgent(env.observation_space.shape[0], env.action_space.n, hidden=args.hidden,
                                   learning_rate=args.learning_rate, random_state=args.seed)
    draws = redraws_in_place(sys.stderr)
    bar = tqdm(total=args.episodes, unit="episode", disable=args.quiet or not draws, dynamic_ncols=True)

    def progress(episode, episode_return, average):
        bar.update(1)
        bar.set_postfix({"return": f"{episode_return:.0f}", "avg100": f"{average:.1f}"}, refresh=False)
        if not (draws or args.quiet) and (episode + 1) % EVERY == 0:
            print(f"episode {episode + 1}/{args.episodes} - return {episode_return:.0f} - avg100 {average:.1f}",
                  file=sys.stderr, flush=True)

    output = args.output or os.path.join(new_run(), MODEL)
    started = datetime.now().astimezone()
    try:
        returns = agent.train(env, args.episodes, solved_at=rl.SOLVED["CartPole-v1"], seed=args.seed, progress=progress)
    finally:
        bar.close()
    solved = rl.first_solved(returns, rl.SOLVED["CartPole-v1"])
    print(f"{len(returns)} episodes; " + (f"solved at episode {solved} (100-episode average ≥ 475)" if solved
                                          else f"not solved: last 100-episode average {np.mean(returns[-100:]):.1f}"))
    greedy = agent.evaluate(env, 100, seed=10_000 + args.seed)
    print(f"greedy policy: average return {greedy:.1f} over 100 episodes")
    settings = (f"hidden {','.join(map(str, args.hidden))}, adam, lr {args.learning_rate:g}, {len(returns)} episodes, "
                f"greedy return {greedy:.1f}")
    save(agent.policy, output, extra={"environment": "CartPole-v1", "returns": returns, "settings": settings,
                                      "started": started.isoformat(timespec="seconds")})
    curve = plots.save(plots.episode_returns(returns, rl.SOLVED["CartPole-v1"], title="REINFORCE on CartPole-v1"),
                       os.path.splitext(output)[0] + "_returns.png")
    episode = watched_episode(agent, env, 10_000 + args.seed, os.path.splitext(output)[0] + "_episode.png")
    print(f"policy saved to {output}; learning curve in {curve}")
    print(episode)
    print(f"next: neuronet rl cartpole --play {shlex.quote(output)}")
    return 0
