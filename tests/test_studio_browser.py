"""neuronet studio in a real browser: headless Chromium from the OS packages, driven by
Selenium through the OS's chromedriver (nothing is downloaded). The page's controls are
set as a user sets them, and what the page shows is read from its DOM."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette", reason="the studio needs its extra: pip install 'neuronet[studio]'")
pytest.importorskip("selenium", reason="the browser tests drive Chromium with Selenium: pip install 'neuronet[test]'")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from neuronet import MLPClassifier, datasets  # noqa: E402
from neuronet.cli import main  # noqa: E402
from neuronet.validation import InvalidParameterError  # noqa: E402
from photos import make_photo_folder  # noqa: E402
from browser import CHROMIUM, DRIVER, NEEDS_CHROMIUM  # noqa: E402

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def studio():
    """The real server, as a user starts it; its printed address (with the token)."""
    process = subprocess.Popen([sys.executable, "-m", "neuronet.cli", "studio", "--no-browser"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = process.stdout.readline().split()[-1]
    yield url
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=20)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1200"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, studio):
    browser.get(studio)
    wait(browser, lambda b: element(b, "step-count").text == "0" and not element(b, "play").get_attribute("disabled"))
    return browser


def wait(browser, condition, seconds=30):
    return WebDriverWait(browser, seconds, poll_frequency=0.1).until(condition)


def element(browser, name):
    return browser.find_element("id", name)


def set_value(browser, name, value):
    """Type a value into a number or range control, as a user leaves it (its change event)."""
    browser.execute_script("arguments[0].value = arguments[1];"
                           "arguments[0].dispatchEvent(new Event('change'));", element(browser, name), str(value))


def choose(browser, name, value):
    Select(element(browser, name)).select_by_value(str(value))


def number(browser, name):
    return float(element(browser, name).text)


def settled(browser):
    """The run that the last settings started: paused at step 0, without errors."""
    time.sleep(0.4)  # the page sends its settings 150 ms after the last change
    wait(browser, lambda b: element(b, "step-count").text == "0"
         and "hidden" in element(b, "banner").get_attribute("class"))


def test_a_network_learns_the_spiral_live_and_the_downloaded_model_scores_the_same(page, downloads, capsys):
    choose(page, "dataset", "spiral")
    set_value(page, "noise", 0.2)
    set_value(page, "test-fraction", 0.2)
    page.find_element("id", "model-network").click()
    set_hidden_layers(page, [8, 8])
    choose(page, "activation", "tanh")
    choose(page, "learning-rate", "0.03")
    set_value(page, "batch-size", 10)
    choose(page, "optimizer", "momentum")
    choose(page, "speed", "")  # as fast as it goes (the 2-D sets default to a pace the eye can follow)
    settled(page)
    assert element(page, "parameter-count").text == "123 parameters"

    element(page, "play").click()
    boundary = element(page, "boundary")
    frames = []
    for _ in range(2):
        wait(page, lambda b: number(b, "step-count") > (frames[-1][0] if frames else 0) + 200)
        frames.append((number(page, "step-count"), page.execute_script("return arguments[0].toDataURL()", boundary)))
    assert frames[0][1] != frames[1][1], "the decision boundary did not change between two frames"
    wait(page, lambda b: number(b, "test-accuracy") > 0.9, seconds=120)

    element(page, "play").click()  # pause
    wait(page, lambda b: element(b, "play").text == "Play")
    before = number(page, "step-count")
    element(page, "step-batch").click()
    wait(page, lambda b: number(b, "step-count") != before)
    time.sleep(0.3)
    assert number(page, "step-count") == before + 1
    shown = element(page, "test-accuracy").text

    element(page, "download").click()
    path = downloads / "spiral-mlp.npz"
    wait(page, lambda b: path.exists())
    time.sleep(0.3)
    capsys.readouterr()
    assert main(["evaluate", str(path), "spiral"]) == 0
    assert f"accuracy {shown}" in capsys.readouterr().out


def set_hidden_layers(browser, sizes):
    while len(browser.find_elements("css selector", "#hidden input")) < len(sizes):
        element(browser, "add-layer").click()
    while len(browser.find_elements("css selector", "#hidden input")) > len(sizes):
        element(browser, "remove-layer").click()
    for layer, size in enumerate(sizes):
        set_value(browser, f"hidden-{layer}", size)


def test_a_network_whose_units_died_is_named_in_a_banner_and_its_zero_gradients_get_no_bar(page):
    choose(page, "dataset", "circles")
    page.find_element("id", "model-network").click()
    set_hidden_layers(page, [8] * 5)
    choose(page, "activation", "relu")
    choose(page, "learning-rate", "1")
    set_value(page, "batch-size", 10)
    choose(page, "optimizer", "momentum")
    settled(page)
    for epoch in ("1", "2"):
        element(page, "step-epoch").click()
        wait(page, lambda b: element(b, "epoch-count").text == epoch)
    wait(page, lambda b: element(b, "diagnosis").is_displayed())
    banner = element(page, "diagnosis").text
    assert "8 of 8 units in layer" in banner and "never fire" in banner
    assert "Try a smaller learning rate than 1, activation: leaky ReLU or optimizer: Adam." in banner
    assert element(page, "gradient-text").text == ("Every layer's gradient is exactly zero: this minibatch gives no "
                                                   "layer anything to learn.")
    assert "ReLU keeps" not in element(page, "gradients-view").text

    choose(page, "activation", "leaky_relu")  # a new run: the banner goes
    settled(page)
    assert not element(page, "diagnosis").is_displayed()
    element(page, "step-epoch").click()
    wait(page, lambda b: element(b, "epoch-count").text == "1")
    assert not element(page, "diagnosis").is_displayed()
    assert "exactly zero" not in element(page, "gradient-text").text


def test_a_bad_setting_shows_the_apis_message_beside_its_control(page):
    choose(page, "dataset", "moons")
    settled(page)
    set_value(page, "batch-size", 0)
    wait(page, lambda b: "batch_size" in b.find_element("css selector", "[data-error-for~=batch_size]").text)
    message = page.find_element("css selector", "[data-error-for~=batch_size]").text
    moons = datasets.load("moons")
    with pytest.raises(InvalidParameterError) as api:
        MLPClassifier(batch_size=0).fit(moons.X, moons.y)
    assert message == str(api.value)
    assert "cannot train" in element(page, "banner").text
    set_value(page, "batch-size", 10)


def test_the_single_neuron_walks_down_its_cost_surface(page):
    choose(page, "dataset", "blobs")
    page.find_element("id", "model-neuron").click()
    choose(page, "learning-rate", "1")
    settled(page)
    assert element(page, "lesson-view").is_displayed() and not element(page, "network-view").is_displayed()
    for _ in range(12):
        element(page, "step-batch").click()
        time.sleep(0.05)
    wait(page, lambda b: "converges" in element(b, "lesson-text").text)
    assert re.search(r"bias b = -?\d+\.\d{3}", element(page, "lesson-text").text)
    page.find_element("id", "model-network").click()


def test_copy_as_python_shows_the_script_of_the_run(page):
    choose(page, "dataset", "xor")
    settled(page)
    element(page, "step-epoch").click()
    wait(page, lambda b: element(b, "epoch-count").text == "1")
    element(page, "copy-python").click()
    wait(page, lambda b: element(b, "python-dialog").is_displayed())
    code = element(page, "python-code").text
    assert "datasets.load('xor'" in code and "epochs=1" in code and "nn.fit(network" in code
    element(page, "python-close").click()


# --- lessons, links, pace and a laptop's screen ------------------------------------------------------
def opened(browser, studio, fragment):
    """The printed address with a link's fragment, through the token redirect, settled."""
    browser.get(f"{studio}#{fragment}")
    wait(browser, lambda b: not element(b, "play").get_attribute("disabled"))
    settled(browser)
    return browser


def fragment_of(browser):
    return dict(pair.split("=", 1) for pair in browser.current_url.split("#", 1)[1].split("&"))


def test_a_lesson_link_survives_the_token_redirect_and_sets_the_page_up(browser, studio):
    page = opened(browser, studio, "lesson=neuron&learning_rate=3")
    assert "?token=" not in page.current_url  # the redirect dropped the token, and kept the fragment
    link = fragment_of(page)
    assert (link["lesson"], link["dataset"], link["model"], link["learning_rate"]) == ("neuron", "moons", "neuron", "3")
    assert Select(element(page, "lesson")).first_selected_option.get_attribute("value") == "neuron"
    assert element(page, "model-neuron").is_selected() and element(page, "learning-rate").get_attribute("value") == "3"
    assert element(page, "speed").get_attribute("value") == "20"  # one neuron: at most 20 steps a second
    assert "w₁x₁ + w₂x₂ + b" in element(page, "lesson-words").text
    assert element(page, "lesson-seen").text == "not seen yet"

    choose(page, "learning-rate", "1")  # the address follows the page: a teacher copies it
    settled(page)
    assert fragment_of(page)["learning_rate"] == "1"
    element(page, "play").click()
    wait(page, lambda b: element(b, "lesson-seen").text.startswith("seen it ✓"), seconds=60)
    assert number(page, "test-accuracy") >= 0.85


def test_a_link_opens_the_page_it_was_copied_from(browser, studio):
    page = opened(browser, studio, "dataset=circles&noise=0.15&hidden=6,3&activation=relu&learning_rate=0.05"
                                   "&batch_size=7&optimizer=adam&l2=0.01&features=x1,x2,x1*x2,sin(x2)&speed=max&threshold=0.3")
    link = fragment_of(page)
    assert page.execute_script("return settings()") == {
        "dataset": "circles", "samples": 400, "noise": 0.15, "test_fraction": 0.2, "seed": 0, "model": "network",
        "hidden": [6, 3], "activation": "relu", "conv": [], "learning_rate": 0.05, "batch_size": 7,
        "optimizer": "adam", "l2": 0.01, "dropout": 0, "features": ["x1", "x2", "x1*x2", "sin(x2)"]}
    assert (link["speed"], link["threshold"], element(page, "threshold-value").text) == ("max", "0.3", "0.30")
    copied = page.current_url
    opened(page, studio, copied.split("#", 1)[1])
    assert page.current_url == copied


def test_the_pace_follows_the_data_the_eye_on_the_plane_images_as_fast_as_they_go(page):
    assert element(page, "speed").get_attribute("value") == "60"  # the spiral: tens of seconds, not one
    choose(page, "dataset", "digits")
    assert element(page, "speed").get_attribute("value") == ""
    page.find_element("id", "model-neuron").click()
    choose(page, "dataset", "moons")
    assert element(page, "speed").get_attribute("value") == "20"
    choose(page, "speed", "1000")  # the learner's choice stays
    choose(page, "dataset", "xor")
    assert element(page, "speed").get_attribute("value") == "1000"
    page.find_element("id", "model-network").click()


@pytest.fixture(scope="module")
def studio_with_photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos") / "pets"
    make_photo_folder(folder, per_class=12, extras=False)
    process = subprocess.Popen([sys.executable, "-m", "neuronet.cli", "studio", "--no-browser", "--data", str(folder),
                                "--image-size", "12"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = process.stdout.readline().split()[-1]
    yield url
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=20)


def test_the_first_layers_caption_says_what_is_drawn_colour_filters_or_blue_and_orange(browser, studio_with_photos):
    page = opened(browser, studio_with_photos, "dataset=pets&conv=4&hidden=4")
    assert element(page, "speed").get_attribute("value") == ""  # images: as fast as they go
    element(page, "step-epoch").click()
    wait(page, lambda b: element(b, "epoch-count").text == "1")
    assert "in colour: each channel's weight as that channel's brightness" in element(page, "units-caption").text
    choose(page, "dataset", "digits")
    settled(page)
    element(page, "step-epoch").click()
    wait(page, lambda b: element(b, "epoch-count").text == "1")
    assert element(page, "units-caption").text.endswith("blue positive, orange negative, white zero.")


def test_a_link_naming_a_dataset_from_data_says_that_it_cannot_travel(browser, studio):
    page = opened(browser, studio, "dataset=cats-and-dogs&hidden=4")
    note = element(page, "link-note")
    assert note.is_displayed() and "“cats-and-dogs”" in note.text and "cannot travel in a link" in note.text
    assert "--data" in note.text and Select(element(page, "dataset")).first_selected_option.text == "spiral"


@pytest.mark.parametrize("speed", ["default", ""])
def test_the_step_size_verdict_is_judged_on_300_steps_the_same_at_every_speed(browser, studio, speed):
    page = opened(browser, studio, "lesson=step-size")
    assert element(page, "learning-rate").get_attribute("value") == "0.01"
    if speed != "default":
        choose(page, "speed", speed)
    assert element(page, "speed").get_attribute("value") == ("20" if speed == "default" else speed)
    element(page, "play").click()
    wait(page, lambda b: "After 300 steps" in element(b, "lesson-text").text, seconds=60)
    assert "After 300 steps: gradient descent crawls." in element(page, "lesson-text").text
    if speed == "default":
        assert number(page, "step-count") < 400  # at 20 steps a second
    else:
        time.sleep(1)
        assert number(page, "step-count") > 600 and "After 300 steps: gradient descent crawls." in element(
            page, "lesson-text").text
        for rate, verdict in (("1", "converges"), ("30", "overshoots and oscillates")):
            choose(page, "learning-rate", rate)  # a new run, which plays on
            wait(page, lambda b: f"After 300 steps: gradient descent {verdict}." in element(b, "lesson-text").text)
        wait(page, lambda b: element(b, "lesson-seen").text == (
            "seen it ✓ three verdicts: crawls, converges, overshoots and oscillates"))


def see(page, seconds=60):
    element(page, "play").click()
    wait(page, lambda b: element(b, "lesson-seen").text.startswith("seen it ✓"), seconds=seconds)
    return element(page, "lesson-seen").text


def test_the_vanishing_gradient_lesson_sees_a_deep_sigmoid_network_then_relu(browser, studio):
    page = opened(browser, studio, "lesson=vanishing-gradient&speed=max")
    element(page, "play").click()
    wait(page, lambda b: "Now choose ReLU" in element(b, "lesson-progress").text)
    assert element(page, "lesson-seen").text == "not seen yet"
    choose(page, "activation", "relu")
    wait(page, lambda b: element(b, "lesson-seen").text.startswith("seen it ✓ sigmoid:"))


def test_the_hidden_layer_lesson_counts_the_added_layer_by_hand(browser, studio):
    page = opened(browser, studio, "lesson=hidden-layer")
    assert element(page, "parameter-count").text == "3 parameters"
    element(page, "add-layer").click()
    wait(page, lambda b: element(b, "lesson-seen").text.startswith("seen it ✓"))
    assert element(page, "lesson-progress").text == "By hand: 2·4 + 4, 4·1 + 1 = 12 + 5 = 17 parameters."
    assert element(page, "parameter-count").text == "17 parameters"


def test_the_softmax_lesson_sees_three_spiral_arms_above_0_9(browser, studio):
    page = opened(browser, studio, "lesson=softmax&speed=max")
    assert see(page).startswith("seen it ✓ three classes, test accuracy 0.9")


def test_the_convolution_lesson_sees_a_block_added_and_0_95_on_digits(browser, studio):
    page = opened(browser, studio, "lesson=convolution")
    assert element(page, "speed").get_attribute("value") == "" and not page.find_elements("css selector", "#conv input")
    element(page, "add-conv").click()
    settled(page)
    assert see(page, seconds=120).startswith("seen it ✓ 1 convolution block, test accuracy")


def test_the_threshold_moves_the_accuracy_and_the_lesson_sees_it(browser, studio):
    page = opened(browser, studio, "lesson=threshold")
    assert element(page, "prediction").is_displayed() and element(page, "threshold-value").text == "0.50"
    for epoch in ("1", "2"):
        element(page, "step-epoch").click()
        wait(page, lambda b: element(b, "epoch-count").text == epoch)
    at_half = element(page, "test-accuracy").text
    set_value(page, "threshold", 0.95)
    wait(page, lambda b: element(b, "test-accuracy").text != at_half)
    assert element(page, "threshold-value").text == "0.95" and fragment_of(page)["threshold"] == "0.95"
    wait(page, lambda b: element(b, "lesson-seen").text.startswith("seen it ✓"))


def test_the_backpropagation_lesson_sees_a_click_on_step_one_sample(browser, studio):
    page = opened(browser, studio, "lesson=backprop")
    page.execute_script("const b = document.createElement('button'); b.id = 'step-sample';"
                        "document.querySelector('.transport').append(b);")  # the button another change adds
    element(page, "step-sample").click()
    wait(page, lambda b: element(b, "lesson-seen").text.startswith("seen it ✓"))


def test_a_size_that_is_not_a_number_is_said_in_the_learners_words(page):
    set_value(page, "hidden-0", "abc")
    wait(page, lambda b: b.find_element("css selector", "[data-error-for~=hidden]").text)
    assert page.find_element("css selector", "[data-error-for~=hidden]").text == (
        "hidden layer sizes are whole numbers of neurons, like 8: a box is empty or holds something else than a number")


TEXT_CLIPPED = """
return [...document.querySelectorAll("body *")].filter((e) => e.offsetParent !== null
    && !["CANVAS", "SELECT", "INPUT", "OPTION", "svg"].includes(e.tagName)
    && [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim())
    && e.clientWidth > 0 && e.scrollWidth > e.clientWidth).map((e) => `${e.tagName}#${e.id}: ${e.textContent.slice(0, 60)}`);
"""
IN_VIEW = """
const r = arguments[0].getBoundingClientRect();
return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
"""


def test_on_a_laptops_screen_the_four_views_are_in_view_and_no_text_is_clipped(browser, studio):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    try:
        page = opened(browser, studio, "")
        element(page, "step-epoch").click()
        wait(page, lambda b: element(b, "epoch-count").text == "1")
        assert page.execute_script("return [innerWidth, innerHeight]") == [1280, 800]
        for view in [*page.find_elements("css selector", "#controls > section:not(.hidden)")][:3] + [
                element(page, name) for name in ("network", "boundary", "curves")]:
            assert page.execute_script(IN_VIEW, view), view.get_attribute("id") or view.text[:20]
        assert page.execute_script(TEXT_CLIPPED) == []
        assert "+ 8 bias" in element(page, "summary").text
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_step_one_sample_shows_its_forward_and_backward_pass_number_by_number(page):
    choose(page, "dataset", "xor")
    page.find_element("id", "model-network").click()
    set_hidden_layers(page, [4])
    settled(page)
    assert not element(page, "sample-view").is_displayed()
    element(page, "step-sample").click()
    wait(page, lambda b: element(b, "sample-view").is_displayed())
    text = element(page, "sample-view").text
    assert text.lower().startswith("one sample, by hand: training sample")
    wait(page, lambda b: element(b, "step-count").text == "1")
    for formula in ("z[1] = a[0]·W[1] + b[1]", "a[1] = tanh(z[1])", "ŷ = σ(z[2])", "∂J/∂z[2] = ŷ − y",
                    "∂J/∂W[1] = a[0]ᵀ · ∂J/∂z[1]", "SGD with momentum μ = 0.9"):
        assert formula in text, formula
    cells = [cell.text for cell in page.find_elements("css selector", "#sample-view td")]
    assert len(cells) > 30 and all(re.fullmatch(r"−?\d+(\.\d+)?(e[+−-]\d+)?", cell) for cell in cells), cells[:40]

    page.find_element("id", "model-neuron").click()  # the single neuron, in the lecture's words
    settled(page)
    assert not element(page, "sample-view").is_displayed()
    element(page, "step-sample").click()
    wait(page, lambda b: element(b, "sample-view").is_displayed())
    text = element(page, "sample-view").text
    assert "z = w·x + b = 0·" in text and "ŷ = σ(z) = 1 / (1 + e−z) = 0.5" in text
    assert re.search(r"∂J/∂w₁ = \(ŷ − y\)·x₁ = \(?−?0\.5\)?·\(?−?\d", text) and "∂J/∂b = ŷ − y = " in text
    page.find_element("id", "model-network").click()


def test_picking_digits_switches_to_settings_that_learn_it_to_095_within_a_minute(page):
    choose(page, "dataset", "digits")
    settled(page)
    chosen = {name: element(page, name).get_attribute("value")
              for name in ("activation", "learning-rate", "batch-size", "optimizer")}
    assert chosen == {"activation": "relu", "learning-rate": "0.001", "batch-size": "32", "optimizer": "adam"}
    assert [field.get_attribute("value") for field in page.find_elements("css selector", "#conv input")] == ["8", "16"]
    assert element(page, "speed").get_attribute("value") == ""  # as fast as it goes
    started = time.perf_counter()
    element(page, "play").click()
    wait(page, lambda b: number(b, "test-accuracy") >= 0.95, seconds=60)
    seconds, epochs = time.perf_counter() - started, element(page, "epoch-count").text
    element(page, "play").click()
    print(f"digits: test accuracy {element(page, 'test-accuracy').text} after {seconds:.1f} s, {epochs} epochs")
    assert not element(page, "diagnosis").is_displayed()
    choose(page, "dataset", "spiral")  # back to points: the settings that learn them
    settled(page)
    assert element(page, "activation").get_attribute("value") == "tanh"
    assert [field.get_attribute("value") for field in page.find_elements("css selector", "#hidden input")] == ["8", "8"]


def test_feature_inputs_become_input_neurons_whose_maps_show_large_on_hovering(page):
    from selenium.webdriver.common.action_chains import ActionChains

    choose(page, "dataset", "circles")
    page.find_element("id", "model-network").click()
    set_hidden_layers(page, [])
    settled(page)
    for name in ("x1^2", "x2^2", "x1", "x2"):
        element(page, f"feature-{name}").click()  # x₁², x₂² on; x₁, x₂ off
    settled(page)
    assert page.execute_script("return page.ready.features") == ["x1^2", "x2^2"]
    assert element(page, "parameter-count").text == "3 parameters"  # one neuron on x₁² and x₂²
    element(page, "play").click()
    wait(page, lambda b: number(b, "test-accuracy") > 0.95, seconds=60)  # a circle, drawn by the features
    element(page, "play").click()

    canvas = element(page, "network")
    x, y = page.execute_script("const n = page.drawnNodes[0]; return [n.x, n.y];")
    scale = page.execute_script("return arguments[0].getBoundingClientRect().width / arguments[0].width", canvas)
    ActionChains(page).move_to_element_with_offset(canvas, int(x * scale - canvas.size["width"] / 2),
                                                   int(y * scale - canvas.size["height"] / 2)).perform()
    wait(page, lambda b: element(b, "neuron-zoom").is_displayed())
    assert element(page, "neuron-zoom").text == "input x₁² over the plane"
    ActionChains(page).move_by_offset(0, 400).perform()
    wait(page, lambda b: not element(b, "neuron-zoom").is_displayed())

    points = page.execute_script("return page.ready.points.train[0]")
    element(page, "new-data").click()
    settled(page)
    assert element(page, "seed").get_attribute("value") == "1"
    assert page.execute_script("return page.ready.points.train[0]") != points
    for name in ("x1", "x2", "x1^2", "x2^2"):
        element(page, f"feature-{name}").click()
    set_value(page, "seed", 0)
    settled(page)


# --- CartPole: the policy plays, beside its returns -------------------------------------------------------
FRAMES_SEEN = """
const [canvas, milliseconds, done] = arguments;
const seen = new Set();
const timer = setInterval(() => seen.add(canvas.toDataURL()), 25);
setTimeout(() => { clearInterval(timer); done(seen.size); }, milliseconds);
"""


def test_cartpole_is_watched_frame_by_frame_beside_its_returns_on_a_laptops_screen(browser, studio):
    pytest.importorskip("gymnasium")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    try:
        page = browser
        page.get(f"{studio}#dataset=cartpole&hidden=16&seed=3")
        wait(page, lambda b: "after 0 training episodes" in element(b, "cartpole-text").text)
        assert element(page, "step-batch").text == "Step episode" and element(page, "speed").get_attribute("value") == "20"
        assert not element(page, "step-epoch").is_displayed() and not element(page, "boundary").is_displayed()
        assert "CartPole-v1" in element(page, "data-description").text
        assert element(page, "parameter-count").text == "114 parameters (and 97 in the value network)"
        element(page, "play").click()
        wait(page, lambda b: re.match(r"([5-9]|\d\d+) episodes trained", element(b, "returns-text").text))
        element(page, "play").click()  # pause
        wait(page, lambda b: element(b, "play").text == "Play")
        returns = element(page, "returns")
        assert page.execute_script("return arguments[0].toDataURL()", returns) != page.execute_script(
            "const c = document.createElement('canvas'); c.width = 440; c.height = 236; return c.toDataURL()")
        # once the untrained policy's episode has been watched, the trained one's follows
        wait(page, lambda b: re.search(r"after [1-9]\d* training episodes: return \d+ \(",
                                       element(b, "cartpole-text").text))
        element(page, "cartpole-replay").click()
        assert page.execute_async_script(FRAMES_SEEN, element(page, "cartpole"), 200) >= 4  # it moves: 50 frames/s
        for view in [element(page, name) for name in ("cartpole", "returns")] + page.find_elements(
                "css selector", "#controls > section:not(.hidden)")[:3]:
            assert page.execute_script(IN_VIEW, view), view.get_attribute("id") or view.text[:20]
        assert page.execute_script(TEXT_CLIPPED) == []
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_without_gymnasium_the_cartpole_view_says_how_to_install_it(browser, tmp_path):
    from neuronet.extras import install_command
    fake = tmp_path / "gymnasium"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('gymnasium is hidden from this studio')\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "neuronet.cli", "studio", "--no-browser"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        browser.get(process.stdout.readline().split()[-1] + "#dataset=cartpole")
        wait(browser, lambda b: element(b, "rl-missing").is_displayed())
        assert element(browser, "rl-missing").text == (f"CartPole needs gymnasium, which is not installed here. Install "
                                                       f"it with {install_command('rl')}, then start neuronet studio again.")
        assert not element(browser, "cartpole").is_displayed() and not element(browser, "returns").is_displayed()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
