"""REINFORCE with a value baseline on CartPole-v1, over 5 seeds, one thread.

For each seed: the episode at which the 100-episode average return first reaches 475
(CartPole-v1's "solved"), the wall time, and the greedy evaluation of the final
policy over 100 episodes. Target: every seed solves within 1,000 episodes, each in
under a minute on one core.

    pip install 'neuronet[rl]'
    python benchmarks/rl_cartpole.py [--seeds 5]
"""

import argparse
import time

from common import one_thread

from neuronet import rl


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    one_thread()
    print(f"{'seed':>4}  {'solved at episode':>17}  {'seconds':>8}  {'greedy return (100 ep.)':>24}")
    for seed in range(args.seeds):
        env = rl.make_env("CartPole-v1")
        agent = rl.PolicyGradientAgent(4, 2, random_state=seed)
        start = time.perf_counter()
        returns = agent.train(env, args.episodes, solved_at=475, seed=seed)
        seconds = time.perf_counter() - start
        solved = rl.first_solved(returns, 475)
        greedy = agent.evaluate(env, 100, seed=10_000 + seed)
        print(f"{seed:>4}  {solved if solved else 'not solved':>17}  {seconds:>8.1f}  {greedy:>24.1f}")


if __name__ == "__main__":
    main()
