"""A layer of one's own: registered by name, it trains, saves, loads and resumes like
neuronet's own; its file holds its name, config and arrays (parameters and buffers),
never code; an unregistered or malformed one is refused in one line."""

import numpy as np
import pytest

import neuronet
from neuronet import nn
from neuronet.files import ModelFileError
from neuronet.gradcheck import check_network
from neuronet.layers import LAYERS


@nn.register_layer
class Scale(nn.Layer):
    """y = x ⊙ s, one learned scale s per feature; counts the training samples it saw.

    Forward:   y = x ⊙ s
    Backward:  ∂L/∂s = Σ_rows x ⊙ ∂L/∂y      ∂L/∂x = ∂L/∂y ⊙ s
    """

    cache = ("_x",)

    def __init__(self, init=1.0):
        super().__init__()
        self.init = float(init)

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.params["scale"] = np.full(input_shape, self.init if rng is not None else 0.0, dtype=dtype)
        self.buffers["seen"] = np.zeros(1, dtype=dtype)

    def get_config(self):
        return {"init": self.init}

    def forward(self, x, training=False):
        if training:
            self.buffers["seen"] += len(x)
        self._x = x
        return x * self.params["scale"]

    def backward(self, grad_out, input_grad=True):
        np.sum(self._x * grad_out, axis=0, out=self._grad("scale"))
        return grad_out * self.params["scale"] if input_grad else None


def network(dtype="float32"):
    return nn.Sequential([nn.Dense(6), Scale(init=0.5), nn.Tanh(), nn.Dense(3), nn.Softmax()],
                         input_shape=(4,), dtype=dtype, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def trained(data, epochs=3, **options):
    net = network()
    net.fit(*data, loss=nn.CrossEntropy(), optimizer=nn.Adam(0.01), epochs=epochs, batch_size=16, random_state=0,
            **options)
    return net


def one_line(error):
    return "\n" not in str(error.value)


def test_a_registered_layer_keeps_its_gradients_in_a_network():
    X, y = np.random.default_rng(1).normal(size=(5, 4)), np.array([0, 1, 2, 1, 0])
    errors = check_network(network("float64"), X, y, nn.CrossEntropy())
    assert set(errors) == {"0/weights", "0/bias", "1/scale", "3/weights", "3/bias"}
    assert max(errors.values()) < 1e-6


def test_a_buffer_is_neither_trained_nor_penalised(data):
    net = trained(data, epochs=2, penalty=nn.L2(0.1))
    assert net.layers[1].buffers["seen"][0] == 2 * 90
    assert net.count_params() == 4 * 6 + 6 + 6 + 6 * 3 + 3
    assert net.flat_parameters()[0].size == net.count_params()


def test_a_registered_layer_saves_and_loads_identical(data, tmp_path):
    net = trained(data)
    neuronet.save(net, tmp_path / "scaled.nn")
    loaded = neuronet.load(tmp_path / "scaled.nn")
    assert type(loaded.layers[1]) is Scale and loaded.layers[1].init == 0.5
    np.testing.assert_array_equal(loaded.layers[1].buffers["seen"], [3 * 90])
    for key, array in net.get_weights().items():
        np.testing.assert_array_equal(loaded.get_weights()[key], array)
    np.testing.assert_array_equal(loaded.predict(data[0]), net.predict(data[0]))


def test_a_layer_registered_under_a_name_is_saved_under_it(tmp_path):
    @nn.register_layer("test_custom_layers.Doubled")
    class Doubled(Scale):
        pass

    net = nn.Sequential([nn.Dense(2), Doubled(2.0)], input_shape=(3,), random_state=0)
    neuronet.save(net, tmp_path / "named.nn")
    assert neuronet.load(tmp_path / "named.nn").get_config()["layers"][1]["class"] == "test_custom_layers.Doubled"


def test_a_run_with_a_registered_layer_resumes_exactly(data, tmp_path):
    trained(data, epochs=2, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt")])
    resumed = trained(data, epochs=4, callbacks=[nn.Checkpoint(tmp_path / "run.ckpt", resume=True)])
    straight = trained(data, epochs=4)
    assert resumed.layers[1].buffers["seen"][0] == 4 * 90
    for key, array in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], array)


def test_an_unregistered_layer_is_refused_at_save_in_one_line_that_says_how_to_register_it(tmp_path):
    class Unlisted(Scale):
        pass

    net = nn.Sequential([nn.Dense(2), Unlisted()], input_shape=(3,), random_state=0)
    with pytest.raises(ValueError, match=r"layer 1, Unlisted, is not a registered layer: .*register_layer") as error:
        neuronet.save(net, tmp_path / "unlisted.nn")
    assert one_line(error) and not (tmp_path / "unlisted.nn").exists()


def test_a_file_naming_an_unregistered_layer_is_refused_at_load_in_one_line(tmp_path, monkeypatch):
    neuronet.save(network(), tmp_path / "scaled.nn")
    monkeypatch.delitem(LAYERS, "Scale")  # as in a program that has not registered it
    with pytest.raises(ModelFileError, match=r"layer 1 is of an unknown type 'Scale': .*register_layer") as error:
        neuronet.load(tmp_path / "scaled.nn")
    assert one_line(error)


def test_a_layer_whose_config_is_not_json_safe_is_refused_at_save_in_one_line(tmp_path):
    @nn.register_layer
    class Widened(Scale):
        def get_config(self):
            return {"init": np.float32(self.init)}

    with pytest.raises(ValueError, match=r"layer 1, Widened, has a config that is not JSON-safe") as error:
        neuronet.save(nn.Sequential([nn.Dense(2), Widened()], input_shape=(3,)), tmp_path / "widened.nn")
    assert one_line(error)


class NotALayer:
    pass


class Forgetful(nn.Layer):  # takes an argument that Layer.get_config does not record
    def __init__(self, factor=2.0):
        super().__init__()
        self.factor = factor


class Impostor(nn.Layer):
    pass


@pytest.mark.parametrize("register, error, message", [
    (lambda: nn.register_layer(NotALayer), TypeError, "takes a subclass of neuronet.nn.Layer, not <class"),
    (lambda: nn.register_layer(Forgetful), TypeError, r"Forgetful takes \(factor\) but keeps Layer.get_config"),
    (lambda: nn.register_layer("Dense")(Impostor), ValueError, "the layer name 'Dense' is taken by neuronet.layers"),
    (lambda: nn.register_layer("Other")(Scale), ValueError, "Scale is registered as 'Scale' already"),
    (lambda: nn.register_layer("")(Impostor), ValueError, "a layer's name is a string of 1 to 100 printable"),
])
def test_register_layer_refuses_what_it_cannot_save_in_one_line(register, error, message):
    with pytest.raises(error, match=message) as refusal:
        register()
    assert one_line(refusal)


def test_running_a_layer_definition_again_registers_the_new_class():
    first = type("Rerun", (Scale,), {"__module__": __name__})
    second = type("Rerun", (Scale,), {"__module__": __name__})
    assert nn.register_layer(first) is first and nn.register_layer(second) is second
    assert LAYERS["Rerun"] is second


@pytest.mark.parametrize("forge, message", [
    (lambda seen: np.zeros(3), r"buffer 1/seen has shape \(3,\), the architecture needs \(1,\)"),
    (lambda seen: np.full_like(seen, np.nan), "buffer 1/seen holds NaN or infinity"),
    (lambda seen: seen.astype(np.int64), "buffer 1/seen holds int64 numbers; buffers are floats"),
])
def test_a_forged_buffer_is_refused_by_the_reader_in_one_line(forge, message, tmp_path):
    net = network()
    net.layers[1].buffers["seen"] = forge(net.layers[1].buffers["seen"])
    neuronet.save(net, tmp_path / "forged.nn")
    with pytest.raises(ModelFileError, match=message) as error:
        neuronet.load(tmp_path / "forged.nn")
    assert one_line(error)


def test_a_file_without_the_buffers_its_layers_declare_is_refused(tmp_path, monkeypatch):
    net = network()
    monkeypatch.setattr(net.layers[1], "buffers", {})
    neuronet.save(net, tmp_path / "bufferless.nn")
    with pytest.raises(ModelFileError, match=r"stored buffers do not match the architecture \(missing \['1/seen'\]"):
        neuronet.load(tmp_path / "bufferless.nn")


def test_a_layer_may_not_name_a_buffer_as_one_of_its_parameters():
    @nn.register_layer
    class Clashing(Scale):
        def build(self, input_shape, rng, dtype):
            super().build(input_shape, rng, dtype)
            self.buffers["scale"] = np.zeros(1, dtype=dtype)

    with pytest.raises(ValueError, match="layer 0, Clashing, names both a parameter and a buffer 'scale'"):
        nn.Sequential([Clashing()], input_shape=(2,))


def test_to_onnx_refuses_a_layer_it_cannot_convert_in_one_line():
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="cannot export layer 1, Scale: ONNX export knows Dense") as error:
        neuronet.to_onnx(network())
    assert one_line(error)


def test_skops_loads_a_network_with_a_registered_layer_trusting_neuronet_and_the_registered_types(data):
    sio = pytest.importorskip("skops.io")
    net = trained(data)
    dumped = sio.dumps(net)
    neuronet_own = [name for name in sio.get_untrusted_types(data=dumped) if name.startswith("neuronet.")]
    assert "test_custom_layers.Scale" in nn.registered_types()
    loaded = sio.loads(dumped, trusted=[*neuronet_own, *nn.registered_types(), "numpy.dtype"])
    np.testing.assert_array_equal(loaded.layers[1].buffers["seen"], [3 * 90])
    np.testing.assert_array_equal(loaded.predict(data[0]), net.predict(data[0]))
