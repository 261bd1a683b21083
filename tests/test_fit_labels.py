"""nn.fit takes any class labels: labels that are not numbers are the classes in sorted
order, recorded in the history so that predictions can be read as labels again."""

import numpy as np
import pytest

from neuronet import nn

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 3))
INDICES = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
NAMES = np.array(["cat", "dog", "emu"])[INDICES]


def network(outputs):
    link = nn.Sigmoid() if outputs == 1 else nn.Softmax()
    return nn.Sequential([nn.Dense(5), nn.ReLU(), nn.Dense(outputs), link], random_state=0)


def train(y, outputs=3, loss=None, **options):
    net = network(outputs)
    options = {"epochs": 5, "batch_size": 16, "random_state": 0, **options}
    history = nn.fit(net, X, y, loss=loss or nn.CrossEntropy(), optimizer=nn.Adam(0.05), **options)
    return net, history


def test_string_labels_train_as_their_sorted_class_indices():
    net, history = train(NAMES, validation_data=(X[:20], NAMES[:20]))
    twin, twin_history = train(INDICES, validation_data=(X[:20], INDICES[:20]))
    assert list(history.classes) == ["cat", "dog", "emu"] and twin_history.classes is None
    assert history.history == twin_history.history
    assert np.array_equal(net.predict(X), twin.predict(X))


def test_the_history_classes_turn_predictions_back_into_labels_with_the_recorded_accuracy():
    net, history = train(list(NAMES), batch_size=len(X))
    labels = history.classes[net.predict(X).argmax(axis=1)]
    assert np.mean(labels == NAMES) == pytest.approx(history["accuracy"][-1])


def test_two_string_classes_train_a_sigmoid_output_with_binary_cross_entropy():
    names = np.where(INDICES > 0, "yes", "no")
    net, history = train(names, outputs=1, loss=nn.BinaryCrossEntropy(), batch_size=len(X))
    labels = history.classes[(net.predict(X)[:, 0] > 0.5).astype(int)]
    assert list(history.classes) == ["no", "yes"]
    assert np.mean(labels == names) == pytest.approx(history["accuracy"][-1])


def test_three_string_classes_for_binary_cross_entropy_are_refused_in_one_line():
    with pytest.raises(ValueError, match="BinaryCrossEntropy takes two classes, got 3"):
        train(NAMES, outputs=1, loss=nn.BinaryCrossEntropy())


def test_a_validation_label_unseen_in_training_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"validation labels \['fox'\] are not among the training labels"):
        train(NAMES, validation_data=(X[:2], np.array(["cat", "fox"])))


def test_string_labels_are_split_stratified_for_validation():
    _, history = train(NAMES, validation_split=0.25)
    assert len(history["val_accuracy"]) == 5 and list(history.classes) == ["cat", "dog", "emu"]
