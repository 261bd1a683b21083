"""neuronet studio's server, through Starlette's test client: every endpoint, every check of
the settings, the token and Origin guards, bounded runs, and the files it hands out."""

import ast
import asyncio
import base64
import html
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
import webbrowser
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the studio needs its extra: pip install 'neuronet[studio]'")
pytest.importorskip("httpx", reason="Starlette's test client needs httpx: pip install 'neuronet[test]'")

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2 under its test client; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import neuronet  # noqa: E402
from neuronet import CNNClassifier, LogisticRegression, MLPClassifier, datasets  # noqa: E402
from neuronet.cli import main  # noqa: E402
from neuronet.extras import install_command  # noqa: E402
from neuronet.cli.study import STEPS  # noqa: E402
from neuronet.studio.catalog import Catalog, Recipe  # noqa: E402
from neuronet.studio.lessons import LESSONS, VERDICT_STEPS, verdict  # noqa: E402
from neuronet.studio.run import Run  # noqa: E402
from neuronet.studio.server import (HEAD_TIMEOUT, MAX_HEAD, MAX_MESSAGE, OUTBOX, STATIC, Session, Studio,  # noqa: E402
                                    create_app, listening_socket, serve, server_config)
from neuronet.studio.settings import SettingsError, read_settings  # noqa: E402
from neuronet.validation import InvalidParameterError  # noqa: E402
from photos import make_photo_folder  # noqa: E402

TOKEN = "the-secret-token"
ORIGIN = {"origin": "http://testserver"}
SPIRAL = {"dataset": "spiral", "noise": 0.2, "hidden": [8, 8], "activation": "tanh", "learning_rate": 0.03,
          "batch_size": 10, "optimizer": "momentum"}


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


@pytest.fixture
def app(catalog):
    return create_app(TOKEN, catalog, hosts=["testserver"], max_runs=2)


@pytest.fixture
def client(app):
    """A browser that opened the printed address: it holds the cookie."""
    with TestClient(app, follow_redirects=False) as client:
        assert client.get(f"/?token={TOKEN}").status_code == 303
        yield client


def messages(ws, until, most=400):
    """Messages from the stream up to the first one ``until`` accepts (which is returned last)."""
    seen = []
    for _ in range(most):
        seen.append(ws.receive_json())
        if until(seen[-1]):
            return seen
    raise AssertionError(f"no awaited message among {len(seen)}: {[m['type'] for m in seen][-10:]}")


def first(ws, until):
    return messages(ws, until)[-1]


def started(ws, settings=SPIRAL, greeted=False):
    """Send the settings; (ready, first snapshot)."""
    if not greeted:
        first(ws, lambda m: m["type"] == "hello")
    ws.send_json({"type": "settings", "settings": settings})
    ready = first(ws, lambda m: m["type"] in ("ready", "invalid"))
    assert ready["type"] == "ready", ready
    return ready, first(ws, lambda m: m["type"] == "snapshot" and m["run"] == ready["run"])


def paused_after(ws, command, value=None):
    ws.send_json({"type": command, "value": value})
    return first(ws, lambda m: m["type"] == "snapshot" and m["state"] == "paused" and m.get("metrics"))


def played(ws, seconds):
    ws.send_json({"type": "play"})
    time.sleep(seconds)
    return paused_after(ws, "pause")


# --- the token, the cookie, the hosts --------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/static/studio.js", "/api/runs/anything/model", "/api/runs/anything/python"])
def test_every_request_without_the_token_or_cookie_is_refused_with_401(app, path):
    with TestClient(app) as stranger:
        answer = stranger.get(path)
    assert answer.status_code == 401 and "open the address that `neuronet studio` printed" in answer.text


def test_a_wrong_token_is_refused_with_403(app):
    with TestClient(app) as stranger:
        assert stranger.get("/?token=guess").status_code == 403
        stranger.cookies.set(app.state.studio.cookie, "guess")
        assert stranger.get("/static/studio.js").status_code == 403


def test_the_token_becomes_an_httponly_samesite_strict_cookie_and_leaves_the_address(app):
    with TestClient(app, follow_redirects=False) as browser:
        answer = browser.get(f"/?token={TOKEN}")
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        page = browser.get("/")
    assert page.status_code == 200 and "<title>neuronet studio</title>" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self': no inline, no CDN
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["x-content-type-options"] == "nosniff"


def test_requests_naming_another_host_are_refused(client):
    """A page elsewhere that rebinds its DNS name to 127.0.0.1 still names its own host."""
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400


def test_a_request_body_over_the_bound_is_refused(client):
    assert client.post("/", content=b"x" * (MAX_MESSAGE + 1)).status_code == 413


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_the_page_works_offline_every_script_and_style_ships_in_the_package(client):
    parser = _Assets()
    parser.feed(client.get("/").text)
    files = [url for url in parser.urls if url.startswith("/static/")]
    assert {"/static/studio.js", "/static/studio.css"} <= set(files)
    assert all(url.startswith(("/static/", "data:", "#")) for url in parser.urls), parser.urls
    for url in files:
        assert client.get(url).status_code == 200
    for name in os.listdir(STATIC):
        with open(os.path.join(STATIC, name), encoding="utf-8") as handle:
            assert not re.search(r"https?://(?!\$\{)", handle.read()), f"{name} fetches from elsewhere"


# --- the WebSocket's guards ------------------------------------------------------------------------
def test_the_stream_without_cookie_is_refused_401_and_with_a_wrong_token_403(app):
    with TestClient(app) as stranger:
        with pytest.raises(WebSocketDenialResponse) as refused:
            stranger.websocket_connect("/ws", headers=ORIGIN).__enter__()
        assert refused.value.status_code == 401
        with pytest.raises(WebSocketDenialResponse) as refused:
            stranger.websocket_connect("/ws?token=guess", headers=ORIGIN).__enter__()
        assert refused.value.status_code == 403


@pytest.mark.parametrize("origin", [{"origin": "http://attacker.example"}, {"origin": "null"}, {}])
def test_the_stream_from_another_origin_is_refused_403(client, origin):
    """Cross-site WebSocket hijacking: the browser sends the victim's cookie, but its Origin tells."""
    with pytest.raises(WebSocketDenialResponse) as refused:
        client.websocket_connect("/ws", headers=origin).__enter__()
    assert refused.value.status_code == 403 and "origin" in refused.value.text.lower()


def test_a_message_over_the_bound_closes_the_stream(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        ws.send_text(json.dumps({"type": "settings", "settings": {"dataset": "x" * MAX_MESSAGE}}))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1009


def test_a_binary_message_closes_the_stream(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        ws.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1003


def test_runs_are_bounded_and_the_next_tab_is_told_why(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as one, client.websocket_connect("/ws", headers=ORIGIN) as two:
        first(one, lambda m: m["type"] == "hello")
        first(two, lambda m: m["type"] == "hello")
        with client.websocket_connect("/ws", headers=ORIGIN) as three:
            refusal = three.receive_json()
            assert refusal["type"] == "refused" and "the most this studio runs at once" in refusal["message"]
            assert "--max-runs" in refusal["message"]
            with pytest.raises(WebSocketDisconnect) as closed:
                three.receive_json()
            assert closed.value.code == 1013
    assert app.state.studio.sessions == {}


def test_closing_the_stream_stops_and_frees_its_run(client, app):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        ws.send_json({"type": "play"})
        first(ws, lambda m: m["type"] == "snapshot" and m.get("step", 0) > 50)
        run = next(iter(app.state.studio.sessions.values())).run
        assert run.thread.is_alive()
    run.thread.join(5)
    assert not run.thread.is_alive() and app.state.studio.sessions == {}


# --- the messages and every check of the settings ---------------------------------------------------
def test_hello_lists_the_datasets_and_the_defaults(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        hello = ws.receive_json()
    keys = {d["key"]: d for d in hello["datasets"]}
    assert {"moons", "circles", "xor", "spiral", "blobs", "breast-cancer", "digits", "mnist-5k"} <= set(keys)
    assert keys["spiral"] == {"key": "spiral", "kind": "plane", "from_command_line": False, "samples": 600,
                              "noise": 0.2}
    assert keys["digits"]["kind"] == "images" and hello["defaults"]["dataset"] == "spiral"


def test_settings_start_a_paused_run_counted_as_by_hand(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, snapshot = started(ws)
    assert ready["parameters"] == (2 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
    assert "2·8 weights + 8 bias" in ready["summary"] and "Total params: 123" in ready["summary"]
    assert ready["train_samples"] == 480 and ready["test_samples"] == 120 and ready["batches_per_epoch"] == 48
    assert snapshot["state"] == "paused" and snapshot["step"] == 0 and snapshot["gradients"] == []
    assert [column["units"] for column in ready["layers"]] == [2, 8, 8, 3]


def _api_message(estimator, **params):
    X, y = datasets.load("blobs").flat, datasets.load("blobs").y
    with pytest.raises(InvalidParameterError) as error:
        estimator(**params).fit(X, y)
    return str(error.value)


@pytest.mark.parametrize("control, value, estimator, parameter", [
    ("learning_rate", -1.0, MLPClassifier, "learning_rate_init"),
    ("batch_size", 2.5, MLPClassifier, "batch_size"),
    ("l2", -0.1, MLPClassifier, "alpha"),
    ("dropout", 1.5, MLPClassifier, "dropout"),
    ("activation", "softsign", MLPClassifier, "activation"),
])
def test_a_bad_setting_gets_the_message_the_api_gives(client, control, value, estimator, parameter):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        ws.send_json({"type": "settings", "settings": {**SPIRAL, control: value}})
        answer = ws.receive_json()
    assert answer["type"] == "invalid"
    assert answer["errors"] == {control: _api_message(estimator, **{parameter: value})}


@pytest.mark.parametrize("control, sizes, words", [
    ("hidden", [8, None], "hidden layer sizes are whole numbers of neurons, like 8: a box is empty or holds "
                          "something else than a number"),
    ("hidden", [2.5], "hidden layer sizes are whole numbers of neurons, like 8, not 2.5"),
    ("conv", [None], "convolution blocks have a whole number of filters, like 8: a box is empty or holds "
                     "something else than a number"),
])
def test_a_size_that_is_not_a_whole_number_is_said_in_the_learners_words(catalog, control, sizes, words):
    with pytest.raises(ValueError) as error:
        read_settings({**SPIRAL, "dataset": "digits", control: sizes}, catalog)
    assert error.value.errors == {control: words}


def test_the_single_neuron_ignores_the_networks_controls(catalog):
    chosen = read_settings({"model": "neuron", "dataset": "blobs", "hidden": "whatever", "batch_size": "auto"}, catalog)
    assert (chosen.hidden, chosen.conv, chosen.optimizer, chosen.estimator_class()) == ((), (), "sgd", LogisticRegression)


def test_the_single_neurons_learning_rate_is_checked_as_logistic_regressions(catalog):
    with pytest.raises(ValueError) as error:
        read_settings({"model": "neuron", "dataset": "blobs", "learning_rate": 0}, catalog)
    assert error.value.errors == {"learning_rate": _api_message(LogisticRegression, learning_rate=0)}


@pytest.mark.parametrize("settings, control, words", [
    ({"dataset": "/etc/passwd"}, "dataset", "The 'dataset' parameter of the studio must be a str among"),
    ({"noise": 2}, "noise", "The 'noise' parameter of the studio must be a float in the range [0.0, 1.0]"),
    ({"samples": 10}, "samples", "must be an int in the range [50, 2000]"),
    ({"test_fraction": 1.0}, "test_fraction", "must be a float in the range (0.0, 1.0)"),
    ({"seed": -1}, "seed", "The 'seed' parameter of the studio"),
    ({"optimizer": "rmsprop"}, "optimizer", "must be a str among"),
    ({"hidden": [0]}, "hidden", "The 'hidden_layer_sizes' parameter of MLPClassifier must be a tuple of positive ints"),
    ({"hidden": [8] * 7}, "hidden", "at most 6 hidden layers of at most 64 neurons"),
    ({"conv": [8]}, "conv", "convolution blocks need images, and spiral is points on a plane"),
    ({"model": "forest"}, "model", "must be a str among"),
    ({"colour": "red"}, "settings", "unknown controls ['colour']"),
    ({"batch_size": "auto"}, "batch_size", "The 'batch_size' parameter of the studio must be an int in the range"),
])
def test_every_control_is_checked_with_a_message_that_names_it(catalog, settings, control, words):
    with pytest.raises(ValueError) as error:
        read_settings({**SPIRAL, **settings}, catalog)
    assert words in error.value.errors[control]


def test_bad_messages_get_one_line_answers_and_the_stream_goes_on(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        answers = []
        for text in ["not json", json.dumps({"type": "explode"}), json.dumps({"type": "play"}),
                     json.dumps({"type": "step", "value": "year"}), json.dumps({"type": "settings", "settings": 3})]:
            ws.send_text(text)
            answers.append(ws.receive_json())
        started_again = started(ws, greeted=True)
    assert [a["type"] for a in answers] == ["invalid", "error", "error", "invalid", "invalid"]
    assert "messages are JSON" in answers[0]["errors"]["message"]
    assert "unknown message type 'explode'" in answers[1]["message"]
    assert "send the settings first" in answers[2]["message"]
    assert "The 'value' parameter of the step command must be a str among" in answers[3]["errors"]["step"]
    assert started_again[0]["type"] == "ready"


# --- training, stepping, snapshots -----------------------------------------------------------------
def test_step_one_minibatch_advances_the_step_counter_by_exactly_one(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        counts = [paused_after(ws, "step", "batch")["step"] for _ in range(3)]
    assert counts == [1, 2, 3]


def test_step_one_epoch_trains_to_the_end_of_the_epoch(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        paused_after(ws, "step", "batch")
        rest = paused_after(ws, "step", "epoch")
        whole = paused_after(ws, "step", "epoch")
    assert (rest["step"], rest["epoch"]) == (48, 1) and (whole["step"], whole["epoch"]) == (96, 2)


def _decoded(text):
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8)


def test_playing_streams_throttled_snapshots_of_every_plane_view(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        ws.send_json({"type": "play"})
        stream = messages(ws, lambda m: m["type"] == "snapshot" and m["step"] > 3000)
        snapshot = paused_after(ws, "pause")
    steps = [m["step"] for m in stream if m["type"] == "snapshot" and m["state"] == "playing"]
    assert len(steps) >= 3 and steps == sorted(steps) and steps[-1] - steps[0] > 100  # throttled, not one a step
    assert snapshot["metrics"]["test_accuracy"] > 0.9
    plane = snapshot["plane"]
    assert [len(_decoded(p)) for p in plane["probabilities"]] == [plane["size"] ** 2] * 3
    assert [len(layer) for layer in plane["neurons"]] == [8, 8]
    assert len(_decoded(plane["neurons"][0][0])) == plane["neuron_size"] ** 2
    assert [len(w) for w in snapshot["weights"]] == [2, 8, 8]
    assert [g["layer"] for g in snapshot["gradients"]] == ["0: Dense", "2: Dense", "4: Dense"]
    assert np.sum(snapshot["confusion"]) == 120


def test_speed_paces_the_steps(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        ws.send_json({"type": "speed", "value": 20})
        snapshot = played(ws, 1.0)
    assert 5 <= snapshot["step"] <= 40


def test_the_single_neuron_shows_its_cost_surface_and_path(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, _ = started(ws, {"dataset": "blobs", "model": "neuron", "learning_rate": 1.0})
        snapshot = paused_after(ws, "step", "epoch")
        for _ in range(11):
            snapshot = paused_after(ws, "step", "epoch")
    assert ready["batch_size"] == ready["train_samples"] and ready["parameters"] == 3  # one neuron: w₁, w₂, b
    lesson = snapshot["lesson"]
    surface = lesson["surface"]
    assert len(_decoded(surface["log_cost"])) == surface["size"] ** 2
    assert len(surface["path"]) == 1 + 12 and surface["path"][0] == [0, 0]  # from the zero weights, a point a step
    assert surface["path"][-1] == pytest.approx(surface["weights"], abs=1e-4)
    assert lesson["outcome"] == {"outcome": "converges", "steps": 12, "window": 300, "final": False}


def test_the_step_size_verdict_is_judged_on_the_first_300_steps_as_the_learning_rate_study_judges():
    assert VERDICT_STEPS == STEPS["logistic"] == 300
    crawl_then_fall = [1.0 - 0.001 * i for i in range(300)] + [0.7 * 0.99**i for i in range(2000)]
    assert verdict(crawl_then_fall[:9], False) is None  # too few steps to say anything
    assert verdict(crawl_then_fall[:120], False) == {"outcome": "crawls", "steps": 120, "window": 300, "final": False}
    judged = {"outcome": "crawls", "steps": 300, "window": 300, "final": True}
    assert verdict(crawl_then_fall[:300], False) == judged
    assert verdict(crawl_then_fall, False) == judged  # all of it converges; its first 300 steps crawl
    assert verdict(crawl_then_fall, True) == judged  # a blow-up after the window does not change it
    assert verdict(crawl_then_fall[:50], True)["outcome"] == "diverges"
    assert verdict(crawl_then_fall[:50], True)["final"]


def test_the_single_neurons_verdict_stays_what_its_first_300_steps_said_however_long_it_runs(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {"dataset": "moons", "model": "neuron", "learning_rate": 0.01})
        snapshot = played(ws, 1.5)
    assert snapshot["step"] > 3 * VERDICT_STEPS  # as fast as it goes: far past the window
    assert snapshot["lesson"]["outcome"] == {"outcome": "crawls", "steps": 300, "window": 300, "final": True}


def test_the_threshold_decides_two_classes_and_the_accuracies_follow_it(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {"dataset": "moons", "model": "network", "hidden": [4], "optimizer": "sgd"})
        at_half = paused_after(ws, "step", "epoch")
        ws.send_json({"type": "threshold", "value": 0.9})
        at_high = first(ws, lambda m: m["type"] == "snapshot" and m.get("threshold") == 0.9)
        ws.send_json({"type": "threshold", "value": 1.5})
        refused = first(ws, lambda m: m["type"] == "invalid")
    assert at_half["threshold"] == 0.5 and "at_half" not in at_half and at_high["step"] == at_half["step"]
    assert at_high["at_half"] == {key: at_half["metrics"][key] for key in ("accuracy", "test_accuracy")}
    assert at_high["metrics"]["test_accuracy"] != at_half["metrics"]["test_accuracy"]
    for snapshot in (at_half, at_high):  # the confusion matrix counts at the same threshold
        confusion = np.array(snapshot["confusion"])
        assert np.trace(confusion) / confusion.sum() == pytest.approx(snapshot["metrics"]["test_accuracy"], abs=1e-6)
    assert "threshold" in refused["errors"]["threshold"] and "(0.0, 1.0)" in refused["errors"]["threshold"]


def test_too_large_a_learning_rate_diverges_with_the_apis_advice(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {"dataset": "moons", "model": "network", "hidden": [8], "optimizer": "sgd",
                     "learning_rate": 30.0, "activation": "relu"})
        ws.send_json({"type": "play"})
        end = first(ws, lambda m: m["type"] == "snapshot" and m["state"] == "diverged")
    assert end["message"].startswith("training diverged") and "Try a smaller learning rate" in end["message"]


DEAD_RELU = {"dataset": "circles", "hidden": [8] * 5, "activation": "relu", "learning_rate": 1.0, "batch_size": 10,
             "optimizer": "momentum"}


def epoch_end(ws, epoch):
    """Step to the end of epoch ``epoch`` (the next one); the snapshot there."""
    ws.send_json({"type": "step", "value": "epoch"})
    return first(ws, lambda m: m["type"] == "snapshot" and m.get("epoch") == epoch and m["state"] == "paused")


def test_a_run_whose_units_died_says_so_with_what_to_try_in_the_pages_controls(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, DEAD_RELU)
        dead = [epoch_end(ws, epoch) for epoch in (1, 2)][-1]
        ws.send_json({"type": "settings", "settings": SPIRAL})
        ready = first(ws, lambda m: m["type"] == "ready")
        healthy = first(ws, lambda m: m["type"] == "snapshot" and m["run"] == ready["run"])
    [finding] = dead["diagnoses"]
    assert finding["kind"] == "dead_units" and finding["count"] == finding["total"] == 8
    assert re.fullmatch(r"8 of 8 units in layer \d never fire \(ReLU gives 0 for all 320 training samples measured\), "
                        r"so no gradient reaches layers 1–\d and the network predicts class \d for every sample.*\. "
                        r"Try a smaller learning rate than 1, activation: leaky ReLU or optimizer: Adam\.",
                        finding["text"])
    assert dead["metrics"]["accuracy"] == 0.5
    assert [g["size"] for g in dead["gradients"]] == [0.0] * 6  # no gradient reaches any layer's weights
    assert healthy["diagnoses"] == []  # a new run starts without the last one's


def test_a_healthy_run_carries_no_diagnosis(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        snapshots = [epoch_end(ws, epoch) for epoch in (1, 2, 3)]
    assert [s["diagnoses"] for s in snapshots] == [[], [], []]


def test_a_tiny_gradient_is_sent_as_itself_and_only_an_exact_zero_as_zero():
    from neuronet.studio.views import gradient_sizes

    network = neuronet.nn.Sequential([neuronet.nn.Dense(2), neuronet.nn.Dense(1)], input_shape=(2,))
    network.layers[0].grads["weights"][...] = 3e-15
    network.layers[1].grads["weights"][...] = 0.0
    assert [g["size"] for g in gradient_sizes(network)] == [3e-15, 0.0]


def test_images_get_first_layer_weights_feature_maps_and_mistakes(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, _ = started(ws, {"dataset": "digits", "conv": [4], "hidden": [], "activation": "relu",
                                "optimizer": "adam", "learning_rate": 0.01, "batch_size": 32})
        paused_after(ws, "step", "epoch")
        ws.send_json({"type": "example", "value": 5})
        snapshot = first(ws, lambda m: m["type"] == "snapshot" and m["example"]["index"] == 5)
    assert ready["model"] == "cnn" and ready["image_shape"] == [1, 8, 8]
    assert snapshot["units"]["shape"] == [1, 3, 3] and len(snapshot["units"]["images"]) == 4
    maps = snapshot["example"]["maps"]
    assert [(m["layer"], m["shape"], len(m["maps"])) for m in maps] == [("0: Conv2D", [8, 8], 4)]
    assert len(_decoded(snapshot["example"]["image"])) == 64
    assert all(len(_decoded(m["image"])) == 64 for m in snapshot["mistakes"])
    assert np.array(snapshot["confusion"]).shape == (10, 10)


# --- what the page hands out ------------------------------------------------------------------------
def test_the_downloaded_model_is_a_file_evaluate_and_predict_read(client, tmp_path, capsys):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        for _ in range(5):
            snapshot = paused_after(ws, "step", "epoch")
        session = next(iter(client.app.state.studio.sessions))
        answer = client.get(f"/api/runs/{session}/model")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == ("attachment; filename=\"spiral-mlp.npz\"; "
                                                     "filename*=UTF-8''spiral-mlp.npz")
    path = tmp_path / "spiral-mlp.npz"
    path.write_bytes(answer.content)
    model, extra = neuronet.load(path, with_extra=True)
    assert type(model[-1]) is MLPClassifier and model[-1].n_iter_ == 5 and len(model[-1].loss_curve_) == 5
    assert extra["dataset_options"] == {"n_samples": 600, "noise": 0.2, "random_state": 0}
    data = datasets.load("spiral", **extra["dataset_options"])
    _, X_test, _, y_test = data.split(extra["test_size"], extra["seed"])
    accuracy = model.score(X_test, y_test)
    assert accuracy == pytest.approx(snapshot["metrics"]["test_accuracy"], abs=1e-6)

    assert main(["evaluate", str(path), "spiral"]) == 0
    assert f"accuracy {accuracy:.4f}" in capsys.readouterr().out
    np.savetxt(tmp_path / "rows.csv", X_test[:3], delimiter=",")
    assert main(["predict", str(path), str(tmp_path / "rows.csv")]) == 0
    assert capsys.readouterr().out.count("rows.csv[") == 3


def test_downloads_of_a_closed_or_unknown_run_are_404(client):
    assert client.get("/api/runs/nobody/model").status_code == 404
    assert client.get("/api/runs/nobody/python").status_code == 404


def script_reproducing_the_page(client, tmp_path):
    """The one run's "Copy as Python" script, run here: it must train the network to the
    weights of the page's "Download model", exactly. Returns the script's text."""
    session = next(iter(client.app.state.studio.sessions))
    script = client.get(f"/api/runs/{session}/python").text
    (tmp_path / "model.npz").write_bytes(client.get(f"/api/runs/{session}/model").content)
    studio_network = neuronet.load(tmp_path / "model.npz")[-1].network_
    namespace = {}
    exec(compile(script, "studio-run.py", "exec"), namespace)
    for (key, ours, _), (_, theirs, _) in zip(namespace["network"].named_parameters(),
                                              studio_network.named_parameters()):
        np.testing.assert_array_equal(ours, theirs, err_msg=key)
    return script


def test_copy_as_python_trains_the_same_network_to_the_same_weights(client, tmp_path):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {**SPIRAL, "l2": 0.001, "dropout": 0.1})
        for _ in range(3):
            paused_after(ws, "step", "epoch")
        script = script_reproducing_the_page(client, tmp_path)
    assert "epochs=3" in script and "penalty=nn.L2(0.001, per_batch=True)" in script and "nn.Dropout(0.1)" in script


@pytest.mark.parametrize("settings, estimator, dataset", [
    ({"hidden": [8, 4], "activation": "relu", "dropout": 0.2}, MLPClassifier, "moons"),
    ({"hidden": [6], "conv": [4, 4], "activation": "tanh"}, CNNClassifier, "digits"),
    ({"hidden": [6], "activation": "leaky_relu"}, MLPClassifier, "digits"),
    ({"model": "neuron"}, LogisticRegression, "breast-cancer"),
])
def test_the_studio_trains_the_network_its_estimator_builds(catalog, settings, estimator, dataset):
    """What the page trains is what the saved estimator would build from its own parameters."""
    chosen = read_settings({**SPIRAL, **settings, "dataset": dataset}, catalog)
    data = catalog.prepare(chosen.recipe)
    fitted = chosen.estimator(1, data.image_shape)
    assert type(fitted) is estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge
        fitted.fit(data.X_train[:64], data.y_train[:64])
    ours = chosen.build_network(data.n_classes, data.sample_shape).get_config()
    assert ours == fitted.network_.get_config()


def test_tables_and_folders_from_the_command_line_train_on_the_page(tmp_path, monkeypatch):
    """--data adds datasets by their file or folder name; the page never names a path."""
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))
    rows = np.random.default_rng(0).normal(size=(60, 3))
    np.savetxt(tmp_path / "measures.csv", np.column_stack([rows, rows[:, 0] > 0]), delimiter=",",
               header="a,b,c,label", comments="")
    make_photo_folder(tmp_path / "pets", per_class=12, extras=False)
    catalog = Catalog([str(tmp_path / "measures.csv"), str(tmp_path / "pets")], image_size=8)
    app = create_app(TOKEN, catalog, hosts=["testserver"])
    with TestClient(app) as client, client.websocket_connect(f"/ws?token={TOKEN}", headers=ORIGIN) as ws:
        hello = ws.receive_json()
        kinds = {d["key"]: (d["kind"], d["from_command_line"]) for d in hello["datasets"]}
        assert kinds["measures.csv"] == ("table", True) and kinds["pets"] == ("images", True)
        table, _ = started(ws, {"dataset": "measures.csv", "hidden": [4]}, greeted=True)
        images, _ = started(ws, {"dataset": "pets", "hidden": [4], "conv": [2]}, greeted=True)
        snapshot = paused_after(ws, "step", "epoch")
    assert table["kind"] == "table" and table["layers"][0]["units"] == 3
    assert images["kind"] == "images" and images["image_shape"] == [3, 8, 8] and snapshot["units"]["shape"] == [3, 3, 3]


def test_blobs_are_two_seeded_clouds_whose_spread_is_the_noise():
    one, again = datasets.load("blobs", noise=0.3), datasets.load("blobs", noise=0.3)
    other = datasets.load("blobs", random_state=1)
    np.testing.assert_array_equal(one.X, again.X)
    assert not np.array_equal(one.X, other.X) and one.class_names == ["0", "1"] and one.X.dtype == np.float32
    for label, centre in ((0, (-1, -1)), (1, (1, 1))):
        cloud = one.X[one.y == label]
        np.testing.assert_allclose(cloud.mean(axis=0), centre, atol=0.1)
        np.testing.assert_allclose(cloud.std(axis=0), 0.3, atol=0.05)


def test_the_model_file_records_how_to_make_the_data_again(catalog):
    recipe = Recipe("moons", 300, 0.35, 7, 0.25)
    extra = catalog.prepare(recipe).extra
    assert extra["data"] == "moons" and extra["seed"] == 7 and extra["test_size"] == 0.25
    assert extra["dataset_options"] == {"n_samples": 300, "noise": 0.35, "random_state": 7}


# --- the command --------------------------------------------------------------------------------------
def test_studio_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["studio", "--help"])
    out = capsys.readouterr().out
    assert "127.0.0.1" in out and "token" in out and install_command("studio") in out and "examples:" in out


def test_studio_help_lists_the_lessons_that_the_page_holds(capsys):
    with pytest.raises(SystemExit):
        main(["studio", "--help"])
    out = capsys.readouterr().out
    with open(os.path.join(STATIC, "lessons.js"), encoding="utf-8") as handle:
        on_the_page = re.findall(r'^    name: "([\w-]+)"', handle.read(), flags=re.MULTILINE)
    assert on_the_page == list(LESSONS)
    assert all(f"  {name}" in out for name in LESSONS) and "--lesson NAME" in out


def test_a_lesson_from_the_command_line_is_in_the_printed_address():
    process, url = _start_studio("--lesson", "step-size")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=20)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+#lesson=step-size", url)


def test_the_token_redirect_names_no_fragment_so_the_browser_keeps_the_links(client):
    """A browser keeps the address's #fragment across a redirect whose Location has none."""
    answer = client.get(f"/?token={TOKEN}")
    assert answer.status_code == 303 and "#" not in answer.headers["location"]


def test_a_missing_data_path_is_one_line(capsys, tmp_path):
    assert main(["studio", "--no-browser", "--data", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"neuronet studio: error: no such file or folder: '{tmp_path / 'nothing'}'"


def _start_studio(*arguments):
    process = subprocess.Popen([sys.executable, "-m", "neuronet.cli", "studio", "--no-browser", *arguments],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = process.stdout.readline().split()[-1]
    return process, url


def test_ctrl_c_stops_the_server_and_its_runs_cleanly():
    websockets = pytest.importorskip("websockets.sync.client")
    process, url = _start_studio()
    try:
        host = url.split("/")[2]
        with websockets.connect(f"ws://{host}/ws?token={url.split('token=')[1]}", origin=f"http://{host}") as ws:
            json.loads(ws.recv())
            ws.send(json.dumps({"type": "settings", "settings": SPIRAL}))
            ws.send(json.dumps({"type": "play"}))
            while json.loads(ws.recv()).get("step", 0) < 100:
                pass
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert out.strip().endswith("neuronet studio stopped") and "Traceback" not in err


def test_another_host_than_this_machine_gets_a_loud_warning():
    process, url = _start_studio("--host", "0.0.0.0")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert err.startswith("WARNING: listening on 0.0.0.0, not only on this machine")


# --- one sample, by hand ------------------------------------------------------------------------------
def sampled(ws, index=None):
    """Step one sample; (the sample message, the snapshot after it)."""
    ws.send_json({"type": "sample", "value": index})
    shown = first(ws, lambda m: m["type"] in ("sample", "error"))
    assert shown["type"] == "sample", shown
    return shown, first(ws, lambda m: m["type"] == "snapshot" and m["state"] == "paused" and m.get("metrics"))


def _values(shown):
    return np.array(shown["values"], dtype=np.float64).reshape(shown["shape"])


def _significant(array):
    return np.array([float(f"{v:.4g}") for v in np.ravel(array)]).reshape(np.shape(array))


def test_one_sample_shows_the_librarys_own_trace_of_that_sample_and_its_sgd_update(client, tmp_path, catalog):
    settings = {**SPIRAL, "optimizer": "sgd", "learning_rate": 0.1}
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, settings)
        for _ in range(3):
            paused_after(ws, "step", "batch")
        session = next(iter(client.app.state.studio.sessions))
        (tmp_path / "before.npz").write_bytes(client.get(f"/api/runs/{session}/model").content)
        shown, snapshot = sampled(ws, 17)
    assert snapshot["step"] == 4 and shown["index"] == 17 and shown["dense"]
    network = neuronet.load(tmp_path / "before.npz")[-1].network_
    data = catalog.prepare(read_settings(settings, catalog).recipe)
    x, y = data.X_train[17], data.y_train[17]
    assert shown["label"] == data.class_names[y] and shown["target"] == int(y)
    assert shown["raw"]["values"] == pytest.approx(data.raw_train[17], rel=1e-3)
    traced = network.trace(x, y, neuronet.nn.CrossEntropy())
    assert shown["cost"] == float(f"{traced.cost:.4g}")
    assert [layer["name"] for layer in shown["layers"]] == [layer.name for layer in traced.layers]
    assert [layer["kind"] for layer in shown["layers"]] == ["dense", "activation"] * 2 + ["dense", "output"]
    for ours, theirs in zip(shown["layers"], traced.layers):
        for key in ("input", "output", "grad_output", "grad_input"):
            if getattr(theirs, key) is None:
                assert ours[key] is None
            else:
                np.testing.assert_array_equal(_values(ours[key]), _significant(getattr(theirs, key)[0]), err_msg=key)
        for name, value in theirs.parameters.items():
            np.testing.assert_array_equal(_values(ours["parameters"][name]), _significant(value))
            np.testing.assert_array_equal(_values(ours["gradients"][name]), _significant(theirs.gradients[name]))
            # plain gradient descent on this one sample: θ ← θ − η ∂J/∂θ
            np.testing.assert_allclose(_values(ours["updated"][name]),
                                       _significant(value - np.float32(0.1) * theirs.gradients[name]), rtol=1e-3)
    output = traced.layers[-1]
    np.testing.assert_allclose(output.grad_input[0], output.output[0] - np.eye(3)[y], atol=1e-6)  # ∂J/∂z = ŷ − y
    assert shown["step"] == {"optimizer": "SGD", "learning_rate": 0.1, "momentum": 0.0, "iterations": 4, "l2": 0.0}
    assert shown["cost_after"] < shown["cost"]


def test_one_sample_of_the_single_neuron_is_the_lectures_chain_rule(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {"dataset": "blobs", "model": "neuron", "learning_rate": 1.0})
        shown, _ = sampled(ws)
        again, _ = sampled(ws)
    dense, sigmoid = shown["layers"]
    x, w = np.array(dense["input"]["values"]), np.array(dense["parameters"]["weights"]["values"])
    y_hat, y = sigmoid["output"]["values"][0], shown["target"]
    assert w.tolist() == [0, 0] and y_hat == 0.5  # zero weights: ŷ = σ(0)
    np.testing.assert_allclose(dense["gradients"]["weights"]["values"], (y_hat - y) * x, rtol=1e-3)  # (ŷ − y)·x
    assert dense["gradients"]["bias"]["values"] == pytest.approx([y_hat - y], rel=1e-3)              # ŷ − y
    np.testing.assert_allclose(dense["updated"]["weights"]["values"], -(y_hat - y) * x, rtol=1e-3)   # w − η ∂J/∂w
    assert shown["cost"] == pytest.approx(np.log(2), rel=1e-3) and again["index"] != shown["index"]


def test_a_sample_outside_the_training_set_is_one_line(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws)
        ws.send_json({"type": "sample", "value": 480})
        answer = first(ws, lambda m: m["type"] == "error")
    assert answer["message"] == "no training sample 480: this run has 480 (0 to 479)"


@pytest.mark.parametrize("settings", [
    {**SPIRAL, "l2": 0.001, "dropout": 0.1},
    {**SPIRAL, "optimizer": "adam", "learning_rate": 0.01, "activation": "relu"},
    {"dataset": "moons", "model": "neuron", "learning_rate": 1.0, "l2": 0.01},
])
def test_copy_as_python_after_minibatch_and_one_sample_steps_reproduces_the_pages_weights(client, tmp_path, settings):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, settings)
        sampled(ws, 3)
        paused_after(ws, "step", "batch")
        sampled(ws)
        paused_after(ws, "step", "epoch")
        sampled(ws, 11)
        paused_after(ws, "step", "batch")
        paused_after(ws, "step", "batch")
        script = script_reproducing_the_page(client, tmp_path)
    assert "one-sample steps" in script.splitlines()[0] and "traced_step(network" in script


def test_a_run_that_collapses_to_one_class_says_so(client):
    """Sigmoid units pushed by momentum at a learning rate of 3: the network ends up giving
    every sample one class, and the snapshots say so for the page's banner."""
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {"dataset": "circles", "hidden": [8, 8], "activation": "sigmoid", "optimizer": "momentum",
                     "learning_rate": 3.0, "batch_size": 10})
        found = [epoch_end(ws, epoch)["diagnoses"] for epoch in range(1, 9)]
    collapsed = [finding for findings in found for finding in findings if finding["kind"] == "one_class"]
    assert collapsed and collapsed[0]["text"].startswith("The network predicts class ") and "Try " in collapsed[0]["text"]


def test_hello_offers_the_settings_that_learn_each_kind_of_data(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        hello = ws.receive_json()
    images = hello["kind_defaults"]["images"]
    assert (images["activation"], images["optimizer"], images["learning_rate"], images["batch_size"]) == \
        ("relu", "adam", 0.001, 32)
    assert hello["kind_defaults"]["plane"]["hidden"] == hello["defaults"]["hidden"]


# --- feature inputs -------------------------------------------------------------------------------------
CIRCLES_BY_FEATURES = {"dataset": "circles", "model": "network", "hidden": [], "features": ["x1^2", "x2^2"],
                       "learning_rate": 0.1, "optimizer": "momentum", "batch_size": 10}


def test_feature_inputs_are_the_networks_inputs_and_travel_in_the_model_file(client, tmp_path, capsys):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, _ = started(ws, CIRCLES_BY_FEATURES)
        for _ in range(3):
            snapshot = paused_after(ws, "step", "epoch")
        sampled(ws, 2)
        snapshot = paused_after(ws, "step", "batch")
        session = next(iter(client.app.state.studio.sessions))
        saved = client.get(f"/api/runs/{session}/model").content
        script = client.get(f"/api/runs/{session}/python").text
    assert ready["features"] == ["x1^2", "x2^2"] and ready["layers"][0]["units"] == 2 and ready["parameters"] == 3
    assert len(snapshot["plane"]["inputs"]) == 2 and snapshot["metrics"]["test_accuracy"] > 0.9  # a circle, no hidden layer
    path = tmp_path / "circles.npz"
    path.write_bytes(saved)
    model, extra = neuronet.load(path, with_extra=True)
    assert [type(step).__name__ for step in model[:-1]] == ["StandardScaler", "PlaneFeatures"]
    data = datasets.load("circles", **extra["dataset_options"])
    _, X_test, _, y_test = data.split(extra["test_size"], extra["seed"])
    assert model.score(X_test, y_test) == pytest.approx(snapshot["metrics"]["test_accuracy"], abs=1e-6)
    assert main(["evaluate", str(path), "circles"]) == 0
    assert f"accuracy {model.score(X_test, y_test):.4f}" in capsys.readouterr().out
    namespace = {}
    exec(compile(script, "studio-run.py", "exec"), namespace)
    assert "PlaneFeatures(('x1^2', 'x2^2'))" in script and "make_pipeline(scaler, features, model)" in script
    for (key, ours, _), (_, theirs, _) in zip(namespace["network"].named_parameters(), model[-1].network_.named_parameters()):
        np.testing.assert_array_equal(ours, theirs, err_msg=key)


def test_feature_inputs_are_checked_with_a_message_that_names_them(catalog):
    with pytest.raises(ValueError) as error:
        read_settings({**SPIRAL, "features": ["x1", "x1^3"]}, catalog)
    assert "features" in error.value.errors and "x1^3" in error.value.errors["features"]
    assert read_settings({"dataset": "digits", "features": ["x1^2"]}, catalog).features is None  # not points


def test_one_sample_of_a_convolution_network_gives_shapes_and_norms(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        started(ws, {"dataset": "digits", "conv": [4], "hidden": [8], "activation": "relu", "optimizer": "adam",
                     "learning_rate": 0.001, "batch_size": 32})
        shown, snapshot = sampled(ws, 0)
    assert not shown["dense"] and snapshot["step"] == 1 and len(base64.b64decode(shown["raw"]["image"])) == 64
    conv = shown["layers"][0]
    assert conv["name"] == "Conv2D" and conv["output"]["shape"] == [4, 8, 8] and "values" not in conv["output"]
    assert conv["gradients"]["weights"]["shape"] == [4, 1, 3, 3] and conv["gradients"]["weights"]["norm"] > 0
    assert shown["step"]["optimizer"] == "Adam" and shown["step"]["iterations"] == 1


# --- CartPole: a policy network learns from rewards -----------------------------------------------------
CARTPOLE = {"dataset": "cartpole", "model": "network", "hidden": [16], "learning_rate": 0.01, "seed": 3}


def cartpole_started(ws):
    """Send CartPole's settings; (rl_ready, the first snapshot: paused, no episode yet)."""
    first(ws, lambda m: m["type"] == "hello")
    ws.send_json({"type": "settings", "settings": CARTPOLE})
    ready = first(ws, lambda m: m["type"] in ("rl_ready", "invalid", "snapshot"))
    assert ready["type"] == "rl_ready", ready
    return ready, first(ws, lambda m: m["type"] == "snapshot" and m["run"] == ready["run"])


def episodes_stepped(ws, count):
    """Step ``count`` episodes, one at a time (as the button does); the snapshot after the last."""
    for episode in range(1, count + 1):
        ws.send_json({"type": "step", "value": "batch"})
        snapshot = first(ws, lambda m: m["type"] == "snapshot" and m.get("episode") == episode)
    assert snapshot["state"] == "paused"
    return snapshot


def test_cartpole_sends_every_episodes_return_and_the_librarys_running_average(client):
    pytest.importorskip("gymnasium")
    from neuronet import rl
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, snapshot = cartpole_started(ws)
        assert snapshot["state"] == "paused" and snapshot["returns"] == []
        snapshot = episodes_stepped(ws, 4)
    agent = rl.PolicyGradientAgent(4, 2, hidden=(16,), learning_rate=0.01, random_state=3)
    returns = agent.train(rl.make_env(), episodes=4, seed=3)  # the same agent, the library's own loop
    assert snapshot["returns"] == returns and snapshot["episodes"] == [1, 2, 3, 4]
    assert snapshot["averages"] == pytest.approx([np.mean(returns[:k + 1]) for k in range(4)], abs=0.01)
    assert ready["parameters"] == (4 * 16 + 16) + (16 * 2 + 2) and ready["solved_at"] == 475
    assert ready["value_parameters"] == (4 * 16 + 16) + (16 + 1) and snapshot["solved"] is None


def test_a_watched_cartpole_episode_is_the_greedy_policy_drawn_with_the_librarys_geometry(client):
    pytest.importorskip("gymnasium")
    from neuronet import plots, rl
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, _ = cartpole_started(ws)
        ws.send_json({"type": "episode"})
        episode = first(ws, lambda m: m["type"] == "episode")
    assert ready["geometry"] == {"track": plots.CARTPOLE_TRACK, "half_pole": plots.CARTPOLE_HALF_POLE,
                                 "angle_limit": plots.CARTPOLE_ANGLE_LIMIT, "cart_width": plots.CART_WIDTH,
                                 "cart_height": plots.CART_HEIGHT, "pole_width": plots.POLE_WIDTH}
    frames = episode["frames"]
    for frame in frames:
        points = plots.cartpole_points(frame["state"])
        for part in ("cart", "hinge", "tip"):
            np.testing.assert_allclose(frame[part], points[part], atol=3e-5, err_msg=part)  # both rounded to 1e-5
    # the untrained policy, greedily, from the start of `neuronet rl`'s evaluation (seed + 10 000)
    agent = rl.PolicyGradientAgent(4, 2, hidden=(16,), learning_rate=0.01, random_state=3)
    env = rl.make_env()
    states, actions, rewards = agent.run_episode(env, greedy=True, seed=10_003)
    assert episode["after"] == 0 and episode["seed"] == 10_003 and episode["return"] == sum(rewards)
    assert [frame["action"] for frame in frames] == [*actions, None]  # the last frame: where it ended
    np.testing.assert_allclose([frame["state"] for frame in frames[:-1]], states, atol=1e-5)
    np.testing.assert_allclose(frames[-1]["state"], env.unwrapped.state, atol=1e-5)
    assert episode["steps"] == len(actions) and episode["ended"] == "the pole leaned past 12°"
    assert abs(frames[-1]["state"][2]) > plots.CARTPOLE_ANGLE_LIMIT


def test_cartpoles_downloads_are_the_policy_and_the_script_that_trains_it_again(client, tmp_path, monkeypatch):
    pytest.importorskip("gymnasium")
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        cartpole_started(ws)
        snapshot = episodes_stepped(ws, 3)
        session = next(iter(client.app.state.studio.sessions))
        script = client.get(f"/api/runs/{session}/python").text
        answer = client.get(f"/api/runs/{session}/model")
    assert answer.headers["content-disposition"] == 'attachment; filename="cartpole-policy.npz"; filename*=UTF-8\'\'cartpole-policy.npz'
    (tmp_path / "downloaded.npz").write_bytes(answer.content)
    policy, extra = neuronet.load(tmp_path / "downloaded.npz", with_extra=True)
    assert extra["environment"] == "CartPole-v1" and extra["returns"] == snapshot["returns"]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    exec(compile(script, "cartpole.py", "exec"), namespace)
    assert "episodes=3" in script and namespace["returns"] == snapshot["returns"]
    for (key, ours, _), (_, theirs, _) in zip(namespace["agent"].policy.named_parameters(), policy.named_parameters()):
        np.testing.assert_array_equal(ours, theirs, err_msg=key)
    assert main(["rl", "cartpole", "--play", "downloaded.npz"]) == 0  # the command line plays it


def test_without_gymnasium_cartpole_says_how_to_install_it(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # import gymnasium fails, as where it is not installed
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        ws.send_json({"type": "settings", "settings": CARTPOLE})
        ended = first(ws, lambda m: m["type"] == "snapshot")
    assert ended["state"] == "error" and ended["install"] == install_command("rl")
    assert ended["message"] == (f"CartPole needs gymnasium, which is not installed: {install_command('rl')}, "
                                "then start neuronet studio again")


def test_cartpoles_policy_is_a_network_and_only_cartpole_plays_episodes(client, catalog):
    with pytest.raises(SettingsError) as caught:
        read_settings({**CARTPOLE, "model": "neuron"}, catalog)
    assert "CartPole's policy is a network" in caught.value.errors["model"]
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        hello = ws.receive_json()
        assert {"key": "cartpole", "kind": "rl", "from_command_line": False} in hello["datasets"]
        assert hello["kind_defaults"]["rl"]["hidden"] == [64] and hello["kind_defaults"]["rl"]["learning_rate"] == 0.01
        started(ws, greeted=True)
        ws.send_json({"type": "episode"})
        assert first(ws, lambda m: m["type"] == "error")["message"] == "episode: only CartPole plays episodes"


def test_a_long_cartpole_run_sends_at_most_2000_points_of_its_curve_the_last_episode_kept():
    from neuronet.studio.cartpole import curve
    returns = [float(k % 500) for k in range(4999)]
    sent = curve(returns, returns, most=2000)
    assert len(sent["episodes"]) <= 2000 and sent["episodes"][-1] == 4999 and sent["episodes"][:2] == [1, 4]
    assert sent["returns"] == [returns[episode - 1] for episode in sent["episodes"]]
    assert curve(returns[:7], returns[:7])["episodes"] == list(range(1, 8)) and curve([], [])["episodes"] == []


# --- memory: one run thread per tab, at most --max-runs, each within --max-memory -----------------
def _rss_mb(pid="self"):
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024


def _run_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("studio run")]


HEAVY = {"dataset": "mnist-5k", "conv": [32, 32, 32], "hidden": [64] * 6, "batch_size": 10**9}


def one_step(ws):
    ws.send_json({"type": "step", "value": "batch"})
    return first(ws, lambda m: m["type"] == "snapshot" and m.get("step") == 1)


def test_settings_needing_more_memory_than_a_run_may_take_are_refused_and_the_last_run_goes_on(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, _ = started(ws)
        ws.send_json({"type": "settings", "settings": HEAVY})
        refusal = first(ws, lambda m: m["type"] in ("invalid", "preparing"))
        after = one_step(ws)
    assert refusal["type"] == "invalid" and list(refusal["errors"]) == ["batch_size"]
    words = refusal["errors"]["batch_size"]
    assert re.fullmatch(r"Training these settings would take about \d+\.\d GB of memory, more than the 1\.0 GB this "
                        r"studio gives one run \(neuronet studio --max-memory\)\. A smaller batch size takes less, "
                        r"and so do fewer or smaller layers\.", words), words
    assert after["run"] == ready["run"] and after["step"] == 1  # the last run trains on


@pytest.mark.parametrize("settings", [
    {"dataset": "digits", "conv": [16], "hidden": [32], "batch_size": 500},
    {"dataset": "digits", "conv": [32, 32], "hidden": [64], "batch_size": 1000, "optimizer": "adam"},
    {"dataset": "digits", "hidden": [64, 64], "batch_size": 1000, "dropout": 0.5},
])
def test_the_memory_estimate_covers_what_a_run_takes_and_not_twice_over(catalog, settings):
    """Measured with tracemalloc (NumPy reports its arrays to it): preparing the data,
    building the network, an epoch's steps, the test loss and the snapshots."""
    chosen = read_settings(settings, catalog)
    estimate = chosen.memory_needed(*catalog.sizes(chosen.recipe))  # loads the data: not counted below
    stepped = threading.Event()
    tracemalloc.start()
    try:
        run = Run(chosen, catalog, lambda m: m.get("epoch") == 1 and stepped.set()).start()
        run.command("step", "epoch")
        assert stepped.wait(60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        run.stop(wait=10)
    assert peak <= estimate <= 2 * peak


def test_the_estimate_counts_what_each_convolution_keeps(catalog):
    """mnist-5k through [Conv2D(32) → pool → activation] × 3, 4,000 images a minibatch: the
    first convolution keeps 4000 × (1·3·3) × 28 × 28 im2col columns, and the second, by
    shifted products, its padded input of 4000 × 32 × (14 + 3) × (14 + 2) numbers."""
    chosen = read_settings(HEAVY, catalog)
    kept = 4000 * 9 * 28 * 28 + 4000 * 32 * 17 * 16
    assert chosen.memory_needed(5000, 4000, (1, 28, 28), 10) > 4 * kept


def test_a_flood_of_settings_keeps_one_run_thread_per_tab_and_the_memory_bounded(catalog):
    """150 settings (each with play) as fast as a tab can send them, then a tab closed and
    another one flooding at once: never more run threads than --max-runs (1), and the
    memory of one run's, not of 150."""
    app = create_app(TOKEN, catalog, hosts=["testserver"], max_runs=1)
    settings = {"dataset": "digits", "conv": [32, 32], "hidden": [64], "batch_size": 1000}
    chosen = read_settings(settings, catalog)
    one_run_mb = chosen.memory_needed(*catalog.sizes(chosen.recipe)) / 1e6
    threads, rss, flooding = [], [], threading.Event()

    def sample():
        while flooding.is_set():
            threads.append(len(_run_threads()))
            rss.append(_rss_mb())
            time.sleep(0.005)

    before = _rss_mb()
    flooding.set()
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with TestClient(app) as browser:
            for _ in range(2):
                with browser.websocket_connect(f"/ws?token={TOKEN}", headers=ORIGIN) as ws:
                    first(ws, lambda m: m["type"] == "hello")
                    for seed in range(75):
                        ws.send_json({"type": "settings", "settings": {**settings, "seed": seed}})
                        ws.send_json({"type": "play"})
                    ready = first(ws, lambda m: m["type"] == "ready")
                    last = first(ws, lambda m: m["type"] == "snapshot" and m["run"] >= ready["run"]
                                 and m.get("step", 0) > 0)
    finally:
        flooding.clear()
        sampler.join()
    assert max(threads) == 1 and len(threads) >= 20  # sampled every 5 ms while the flood lasted
    assert max(rss) - before < 3 * one_run_mb, (before, max(rss), one_run_mb)
    assert last["state"] == "playing"


def test_settings_sent_while_a_run_stops_replace_each_other_and_the_newest_runs(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        for seed in range(30):
            ws.send_json({"type": "settings", "settings": {**SPIRAL, "seed": seed}})
        ws.send_json({"type": "settings", "settings": {**SPIRAL, "hidden": [5]}})
        seen = messages(ws, lambda m: m["type"] == "ready" and m["layers"][1]["units"] == 5)
    assert sum(m["type"] == "ready" for m in seen) < 10  # not one run each, one after the other


# --- messages that cannot be read, numbers that do not fit, an unread page --------------------------
@pytest.mark.parametrize("text, words", [
    ("[" * 8000, "nested a few levels deep"),
    ("1" * 5000, "too many digits"),
    ('{"type": "speed", "value": 1e-300}', "The 'value' parameter of the speed command must be a float in the range"),
    ('{"type": "speed", "value": ' + "9" * 400 + "}", "The 'value' parameter of the speed command"),
    (json.dumps({"type": "x" * 10000}), "unknown message type 'xxxxx"),
], ids=["deep-nesting", "5000-digits", "tiny-speed", "huge-speed", "long-type"])
def test_a_message_that_cannot_be_read_gets_one_short_error_and_the_stream_goes_on(client, text, words):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ready, _ = started(ws)
        ws.send_text(text)
        answer = first(ws, lambda m: m["type"] != "snapshot")
        after = one_step(ws)
    said = answer.get("message") or " ".join(answer["errors"].values())
    assert answer["type"] == ("error" if "unknown message type" in words else "invalid"), answer
    assert words in said and len(said) < 400, answer
    assert after["run"] == ready["run"] and after["step"] == 1


@pytest.mark.parametrize("control", ["learning_rate", "l2"])
def test_a_number_too_large_for_a_float_is_an_invalid_setting(client, control):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        ws.send_text(json.dumps({"type": "settings", "settings": {**SPIRAL, control: 10**400}}))
        answer = ws.receive_json()
    assert answer == {"type": "invalid", "errors": {control: f"{control} holds a number too large for a float "
                                                             "(the largest is 1.798e+308)"}}


def test_echoed_values_are_cut_short(client):
    with client.websocket_connect("/ws", headers=ORIGIN) as ws:
        first(ws, lambda m: m["type"] == "hello")
        ws.send_json({"type": "settings", "settings": {"x" * 10000: 1}})
        invalid = ws.receive_json()
        ws.send_json({"type": "step", "value": "y" * 10000})
        refused = ws.receive_json()
    assert len(invalid["errors"]["settings"]) <= 240 and invalid["errors"]["settings"].endswith("…")
    assert len(refused["errors"]["step"]) <= 240 and refused["errors"]["step"].endswith("…")


def test_a_page_that_reads_nothing_is_closed_once_its_outbox_is_full(catalog):
    class Unread:
        """A WebSocket whose page never reads: a send never finishes."""

        async def send_text(self, text):
            await asyncio.Event().wait()

    async def flood():
        session = Session(Studio(TOKEN, catalog, 1), Unread())
        sender = asyncio.create_task(session._send_all())
        for _ in range(1000):
            session.handle(json.dumps({"type": "explode" * 100}))
        await asyncio.sleep(0)
        sender.cancel()
        return session

    session = asyncio.run(flood())
    assert session.closed and session.outbox.qsize() <= OUTBOX


# --- the HTTP server: idle connections, endless heads ----------------------------------------------
@pytest.fixture(scope="module")
def served():
    """`neuronet studio` in a process of its own: (host, port, token, pid)."""
    process, url = _start_studio()
    host, port = url.split("/")[2].split(":")
    yield host, int(port), url.split("token=")[1], process.pid
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=20)


def _get(host, port, path):
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split()[1])


def _closed_within(connection, seconds):
    """Whether the server closes ``connection`` within ``seconds`` (what it sent before: ignored)."""
    connection.settimeout(seconds)
    try:
        while connection.recv(65536):
            pass
    except (TimeoutError, socket.timeout):
        return False
    except ConnectionResetError:
        pass
    return True


def test_a_hundred_idle_connections_block_no_request_and_close_after_ten_seconds(served):
    host, port, token, _ = served
    opened = time.monotonic()
    idle = [socket.create_connection((host, port)) for _ in range(100)]
    try:
        assert _get(host, port, f"/static/studio.js?token={token}") == 200
        assert all(_closed_within(connection, HEAD_TIMEOUT + 5) for connection in idle)
        waited = time.monotonic() - opened
    finally:
        for connection in idle:
            connection.close()
    assert HEAD_TIMEOUT - 1 <= waited <= HEAD_TIMEOUT + 5


def test_an_endless_request_line_is_refused_with_400_and_costs_the_server_no_memory(served):
    host, port, _, pid = served
    before = _rss_mb(pid)
    chunk, sent = b"a" * 65536, 0
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(b"GET /")
        try:
            while sent < 64 * 2**20:
                connection.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = connection.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert sent < 8 * 2**20  # cut off long before 64 MB
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert _rss_mb(pid) - before < 8
    assert _get(host, port, "/") == 401  # and the server goes on


def test_a_request_head_over_64_kb_is_answered_400(served):
    host, port, token, _ = served
    big = f"GET /?token={token} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Padding: {'a' * (MAX_HEAD + 1024)}\r\n\r\n"
    with socket.create_connection((host, port), timeout=10) as connection:
        try:
            connection.sendall(big.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = connection.recv(65536)
    assert MAX_HEAD == 64 * 1024 and answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert _get(host, port, "/") == 401  # and the server goes on


def _serving(app, **options):
    """A studio served by uvicorn in a thread of this process; (server, port)."""
    import uvicorn

    sock = listening_socket("127.0.0.1", 0)
    server = uvicorn.Server(server_config(app, **options))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, sock.getsockname()[1]


def test_a_connection_without_a_whole_request_head_is_closed_after_the_head_timeout(app):
    server, port = _serving(app, head_timeout=0.5)
    try:
        silent = socket.create_connection(("127.0.0.1", port))
        trickling = socket.create_connection(("127.0.0.1", port))
        trickling.sendall(b"GET / HTTP/1.1\r\n")
        answered = socket.create_connection(("127.0.0.1", port))
        answered.sendall(b"GET / HTTP/1.1\r\nHost: testserver\r\n\r\n")
        assert answered.recv(65536).startswith(b"HTTP/1.1 401")
        started_at = time.monotonic()
        answered.sendall(b"GET / HTTP/1.1\r\n")  # the next request's head, never finished
        assert all(_closed_within(connection, 3) for connection in (silent, trickling, answered))
        assert time.monotonic() - started_at < 2
    finally:
        server.should_exit = True


def test_the_server_parses_with_h11_refuses_heads_over_64_kb_and_times_heads_out_after_10_seconds(app):
    config = server_config(app)
    assert HEAD_TIMEOUT == 10 and config.http.head_timeout == 10
    assert inspect.signature(serve).parameters["head_timeout"].default == HEAD_TIMEOUT
    assert config.h11_max_incomplete_event_size == MAX_HEAD == 65536
    assert config.limit_concurrency is None  # it would count idle connections


# --- the browser opens a private file, not the address with the token -----------------------------
def test_the_browser_opens_a_private_redirect_file_and_never_sees_the_token(monkeypatch, capsys):
    import uvicorn

    opened = []

    def browser(address):
        path = address.removeprefix("file://")
        with open(path, encoding="utf-8") as handle:
            opened.append((address, os.stat(path).st_mode & 0o777, os.stat(os.path.dirname(path)).st_mode & 0o777,
                           handle.read()))

    def run(self, sockets):
        self.started = True
        for _ in range(200):
            if opened:
                break
            time.sleep(0.01)
        sockets[0].close()

    monkeypatch.setattr(webbrowser, "open", browser)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    serve(Catalog(), open_browser=True)
    url = capsys.readouterr().out.split()[2]
    [(address, mode, folder_mode, page)] = opened
    token = url.split("token=")[1]
    assert address.startswith("file:///") and token not in address
    assert (mode, folder_mode) == (0o600, 0o700)
    assert f'url={html.escape(url)}"' in page
    assert not os.path.exists(address.removeprefix("file://"))  # removed when the server stopped


# --- any name of a file or folder given to --data ----------------------------------------------------
HOSTILE_NAMES = ["mesures-€.csv", "猫と犬", 'say "cheese".csv', 'evil\nprint("INJECTED")\n#.csv',
                 "back\\slash\r\x1b[31m\x07.csv", "it's; rm -rf ~.csv"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["euro", "japanese-folder", "quotes", "newlines", "controls",
                                                    "shell"])
def test_any_data_name_downloads_and_is_copied_as_python_only_as_a_string(tmp_path, monkeypatch, name):
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))
    path = tmp_path / name
    if name.endswith(".csv"):
        rows = np.random.default_rng(0).normal(size=(60, 3))
        np.savetxt(path, np.column_stack([rows, rows[:, 0] > 0]), delimiter=",", header="a,b,c,label", comments="")
        settings, kind = {"dataset": name, "hidden": [4]}, "mlp"
    else:
        make_photo_folder(path, per_class=12, extras=False)
        settings, kind = {"dataset": name, "hidden": [4], "conv": [2]}, "cnn"
    app = create_app(TOKEN, Catalog([str(path) + ("/" if path.is_dir() else "")], image_size=8),
                     hosts=["testserver"])
    with TestClient(app) as browser, browser.websocket_connect(f"/ws?token={TOKEN}", headers=ORIGIN) as ws:
        hello = ws.receive_json()
        assert name in [d["key"] for d in hello["datasets"]]
        started(ws, settings, greeted=True)
        paused_after(ws, "step", "epoch")
        session = next(iter(app.state.studio.sessions))
        download = browser.get(f"/api/runs/{session}/model?token={TOKEN}")
        script = browser.get(f"/api/runs/{session}/python?token={TOKEN}").text
    assert download.status_code == 200
    disposition = download.headers["content-disposition"]
    fallback, encoded = re.fullmatch(r'attachment; filename="([ -~]*)"; filename\*=UTF-8\'\'([!-~]+)',
                                     disposition).groups()
    assert unquote(encoded) == f"{name}-{kind}.npz" and '"' not in fallback and "\\" not in fallback
    (tmp_path / "model.npz").write_bytes(download.content)
    assert neuronet.load(tmp_path / "model.npz", with_extra=True)[1]["data"] == str(path)

    tree = ast.parse(script)
    plain = ast.parse(script.replace(repr(str(path)), "'plain'").replace(repr(f"{name}-{kind}.npz"), "'plain'"))
    assert ast.dump(tree) != ast.dump(plain) and "INJECTED" not in ast.dump(plain)  # the name: only in literals
    assert [ast.literal_eval(call.args[0]) for call in ast.walk(tree) if isinstance(call, ast.Call)
            and ast.unparse(call.func) == "datasets.load"] == [str(path)]
    assert script.splitlines()[0] == f"# neuronet studio: {repr(name)[1:-1]}, {kind}, 1 epoch"


def test_max_memory_takes_a_size_with_its_unit_and_its_help_says_what_is_counted(capsys):
    from neuronet.cli.studio import memory_size

    assert (memory_size("500MB"), memory_size("1.5 GB"), memory_size("2gb")) == (5 * 10**8, 15 * 10**8, 2 * 10**9)
    with pytest.raises(SystemExit):
        main(["studio", "--max-memory", "2"])
    assert "--max-memory: a size with its unit, such as 500MB or 2GB; got '2'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["studio", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: 1GB)" in out and "im2col columns" in out and "optimizer's state" in out
