"""Training speed in neuronet studio, watched, against plain ``nn.fit``, one BLAS thread.

The model and data of the studio's default page: spiral (600 points, noise 0.2), two
hidden layers of 8 tanh neurons, SGD with momentum 0.9 at 0.03, batch size 10. Plain
fit trains that network with ``nn.fit`` (with the test set as validation_data, as the
studio's loop measures it every epoch). The studio trains it in the real server
(``neuronet studio``, its own process) while a WebSocket client here consumes every
update it sends; the step counter in those updates gives the studio's speed.

The bar: the client receives at least 10 updates a second, and the studio trains at
least 80 % as fast as plain fit.

    python benchmarks/studio.py [--seconds 10] [--repeats 3]
"""

import argparse
import json
import os
import subprocess
import sys
import time

from common import one_thread

from neuronet import nn
from neuronet.studio.catalog import Catalog
from neuronet.studio.settings import read_settings

SETTINGS = {"dataset": "spiral", "noise": 0.2, "samples": 600, "hidden": [8, 8], "activation": "tanh",
            "optimizer": "momentum", "learning_rate": 0.03, "batch_size": 10, "seed": 0}


def plain_fit_speed(epochs):
    """Minibatch steps a second of nn.fit on the studio's model and data."""
    settings = read_settings(SETTINGS, Catalog())
    data = Catalog().prepare(settings.recipe)
    network = settings.build_network(data.n_classes, data.sample_shape)
    batches = -(-len(data.y_train) // settings.batch_size)
    started = time.perf_counter()
    nn.fit(network, data.X_train, data.y_train, loss=settings.build_loss(data.n_classes),
           optimizer=settings.build_optimizer(), epochs=epochs, batch_size=settings.batch_size,
           random_state=settings.recipe.seed, validation_data=(data.X_test, data.y_test))
    return epochs * batches / (time.perf_counter() - started)


def studio_speed(seconds):
    """(steps a second, updates a second received) of the studio's server, while playing."""
    from websockets.sync.client import connect

    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "neuronet.cli", "studio", "--no-browser"], env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[-1]
        host, token = url.split("/")[2], url.split("token=")[1]
        with connect(f"ws://{host}/ws?token={token}", origin=f"http://{host}", max_size=2**24) as ws:
            ws.send(json.dumps({"type": "settings", "settings": SETTINGS}))
            while json.loads(ws.recv())["type"] != "ready":
                pass
            ws.send(json.dumps({"type": "play"}))
            updates = []
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                message = json.loads(ws.recv())
                if message["type"] == "snapshot" and message["state"] == "playing":
                    updates.append((time.perf_counter(), message["step"]))
    finally:
        server.terminate()
        server.wait(20)
    (t0, s0), (t1, s1) = updates[1], updates[-1]
    return (s1 - s0) / (t1 - t0), (len(updates) - 2) / (t1 - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="how long the studio plays, each repeat")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()
    one_thread()
    plain_fit_speed(2)  # warm up
    plain = max(plain_fit_speed(200) for _ in range(args.repeats))
    watched = max((studio_speed(args.seconds) for _ in range(args.repeats)), key=lambda result: result[0])
    ratio = watched[0] / plain
    print(f"{'plain nn.fit':<34}{plain:>10.0f} steps/s")
    print(f"{'studio, watched over a WebSocket':<34}{watched[0]:>10.0f} steps/s   {watched[1]:.1f} updates/s received")
    print(f"studio / plain fit: {ratio:.0%}   (bar: at least 80 %, with at least 10 updates/s)")
    verdict = ratio >= 0.8 and watched[1] >= 10
    print("meets the bar" if verdict else "BELOW THE BAR")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
