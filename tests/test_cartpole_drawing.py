"""CartPole drawn from its state with matplotlib (no pygame): the geometry is gymnasium's
CartPole-v1, one state draws on one Axes, an episode draws as a grid of frames."""

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from neuronet import plots

HINGE_HEIGHT = plots.CART_HEIGHT / 4


@pytest.mark.parametrize(("theta", "tip_offset"), [
    (0.0, (0.0, 1.0)),                        # upright: the whole pole length (2 × 0.5) straight up
    (np.pi / 2, (1.0, 0.0)),                  # θ > 0 leans right
    (-np.pi / 6, (-0.5, np.sqrt(3) / 2)),     # −30°: half a length to the left
])
def test_the_pole_tip_is_one_pole_length_from_the_hinge_at_angle_theta(theta, tip_offset):
    points = plots.cartpole_points([1.5, -0.3, theta, 2.0])
    np.testing.assert_allclose(points["cart"], [1.5, 0.0])
    np.testing.assert_allclose(points["hinge"], [1.5, HINGE_HEIGHT])
    np.testing.assert_allclose(points["tip"], np.array([1.5, HINGE_HEIGHT]) + tip_offset, atol=1e-12)


def test_the_geometry_is_gymnasiums_cartpole_v1():
    gymnasium = pytest.importorskip("gymnasium")
    env = gymnasium.make("CartPole-v1").unwrapped
    assert plots.CARTPOLE_TRACK == env.x_threshold == 2.4
    assert plots.CARTPOLE_HALF_POLE == env.length == 0.5
    assert plots.CARTPOLE_ANGLE_LIMIT == pytest.approx(env.theta_threshold_radians) == pytest.approx(np.radians(12))


def test_one_state_draws_the_cart_at_x_and_the_pole_from_hinge_to_tip():
    ax = Figure().add_subplot()
    artists = plots.draw_cartpole(ax, [-0.8, 0.0, 0.1, 0.0], action=1)
    cart = artists["cart"]
    assert cart.get_x() + cart.get_width() / 2 == pytest.approx(-0.8)
    assert (cart.get_width(), cart.get_height()) == (plots.CART_WIDTH, plots.CART_HEIGHT)
    corners = artists["pole"].get_xy()[:4]
    points = plots.cartpole_points([-0.8, 0.0, 0.1, 0.0])
    np.testing.assert_allclose((corners[0] + corners[3]) / 2, points["hinge"])
    np.testing.assert_allclose((corners[1] + corners[2]) / 2, points["tip"])
    assert np.linalg.norm(corners[0] - corners[3]) == pytest.approx(plots.POLE_WIDTH)
    assert artists["push"].xy[0] > -0.8  # action 1 pushes right
    assert ax.get_xlim()[0] < -2.4 and ax.get_xlim()[1] > 2.4  # the whole track is in view


def test_an_episode_draws_every_kth_step_and_the_last_with_its_angle():
    states = np.zeros((23, 4))
    states[:, 2] = np.linspace(0, np.radians(12), 23)
    fig = plots.cartpole_frames(states, actions=np.arange(23) % 2, every=5)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == [
        f"step {step}: θ = {np.degrees(states[step, 2]):+.1f}°" for step in (0, 5, 10, 15, 20, 22)]
    assert shown[-1].get_title() == "step 22: θ = +12.0°"
    states[:, 2] = -states[:, 2]
    titles = [ax.get_title() for ax in plots.cartpole_frames(states, every=22).axes]
    assert titles == ["step 0: θ = +0.0°", "step 22: θ = \N{MINUS SIGN}12.0°"]  # a minus sign, not a hyphen


def test_an_angle_that_rounds_to_zero_is_drawn_as_plus_zero():
    states = np.zeros((2, 4))
    states[:, 2] = np.radians([-0.04, 0.04])
    assert [ax.get_title() for ax in plots.cartpole_frames(states, every=1).axes] == [
        "step 0: θ = +0.0°", "step 1: θ = +0.0°"]
    assert matplotlib.get_backend().lower() == "agg"


@pytest.mark.parametrize(("state", "message"), [
    ([0.0, 0.0, 0.1], r"4 numbers \(x, ẋ, θ, θ̇\); got an array of shape \(3,\)"),
    ([0.0, np.nan, 0.1, 0.0], "must be finite"),
    ([[0.0, 0.0, 0.1, 0.0]], r"shape \(1, 4\)"),
])
def test_a_state_that_is_not_four_finite_numbers_is_a_clear_error(state, message):
    with pytest.raises(ValueError, match=message):
        plots.draw_cartpole(Figure().add_subplot(), state)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"states": np.zeros(4)}, r"\(steps, 4\).*shape \(4,\)"),
    ({"states": np.zeros((0, 4))}, r"shape \(0, 4\)"),
    ({"states": np.full((3, 4), np.inf)}, "must be finite"),
    ({"states": np.zeros((3, 4)), "every": 0}, "every must be a whole number"),
    ({"states": np.zeros((3, 4)), "actions": [0, 1]}, "2 actions for 3 states"),
    ({"states": np.zeros((3, 4)), "actions": [0, 1, 2]}, r"0 \(push left\) or 1 \(push right\); got \[2\]"),
])
def test_an_episode_that_cannot_be_drawn_is_a_clear_error(arguments, message):
    with pytest.raises(ValueError, match=message):
        plots.cartpole_frames(**arguments)
