import numpy as np
import pytest
from hypothesis import settings
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


# Property tests draw the same examples on every run (from each test's source), so that the
# suite's verdict does not change from one run to the next
settings.register_profile("reproducible", derandomize=True)
settings.load_profile("reproducible")


@pytest.fixture(scope="session")
def breast_cancer_split():
    """Standardized breast-cancer data, seed-fixed stratified 80/20 split."""
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits_split():
    """scikit-learn's 8×8 digits as images (n, 1, 8, 8), 40 % held out, seeded and stratified."""
    from neuronet import datasets

    data = datasets.load("digits")
    return train_test_split(data.X, data.y, test_size=0.4, random_state=0, stratify=data.y)


@pytest.fixture
def terminal(monkeypatch):
    """Progress written as on a terminal (a bar redrawn in place), on the captured stderr."""
    monkeypatch.setattr("neuronet.callbacks.redraws_in_place", lambda stream: True)
