"""Model-input preparation: scaling, one-hot labels, and the stratified train/validation split."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from digitrec.data.prepare import NUM_CLASSES, normalize, one_hot, split


@pytest.fixture(scope="module")
def kaggle_labels(shared_data):
    # Only the label column, read independently of digitrec's reader: the split is under test here.
    path = shared_data / "kaggle-digit-recognizer" / "train.csv.gz"
    return pd.read_csv(path, usecols=["label"])["label"].to_numpy()


def test_normalize():
    images = np.array([[[0, 51], [255, 128]]], dtype=np.uint8)
    out = normalize(images)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(out[0, :, :, 0], [[0.0, 0.2], [1.0, 128 / 255]], rtol=1e-6)
    assert images.dtype == np.uint8 and images[0, 1, 0] == 255  # input untouched


def test_normalize_full_range():
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    out = normalize(images)
    assert out.min() == 0.0 and out.max() == 1.0
    assert np.all(np.diff(out.ravel()) > 0)


def test_one_hot():
    labels = np.array([3, 0, 9, 3], dtype=np.uint8)
    encoded = one_hot(labels)
    assert encoded.dtype == np.float32 and encoded.shape == (4, NUM_CLASSES)
    np.testing.assert_array_equal(encoded.argmax(axis=1), labels)
    np.testing.assert_array_equal(encoded.sum(axis=1), 1.0)
    assert set(np.unique(encoded)) == {0.0, 1.0}


def test_split_is_stratified_sized_and_disjoint(kaggle_labels):
    n = len(kaggle_labels)
    index = np.arange(n)
    i_train, i_val, y_train, y_val = split(index, kaggle_labels, val_fraction=0.1, seed=2)
    assert len(i_val) == math.ceil(0.1 * n) and len(i_train) + len(i_val) == n
    assert np.intersect1d(i_train, i_val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([i_train, i_val])), index)
    np.testing.assert_array_equal(kaggle_labels[i_val], y_val)  # labels travel with their images
    np.testing.assert_array_equal(kaggle_labels[i_train], y_train)

    overall = np.bincount(kaggle_labels, minlength=10) / n
    for part in (y_train, y_val):
        share = np.bincount(part, minlength=10) / len(part)
        # relative to each class's share: a plain random split of 4,200 misses this by several per cent
        assert np.all(np.abs(share - overall) <= 0.01 * overall), (share, overall)


def test_split_is_reproducible_per_seed(kaggle_labels):
    index = np.arange(len(kaggle_labels))
    first = split(index, kaggle_labels, 0.1, seed=5)[1]
    again = split(index, kaggle_labels, 0.1, seed=5)[1]
    other = split(index, kaggle_labels, 0.1, seed=6)[1]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(np.sort(first), np.sort(other))


def test_split_keeps_image_shape_and_dtype():
    images = np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 4)
    x_train, x_val, _y_train, y_val = split(images, labels, 0.25, seed=0)
    assert x_train.shape == (30, 28, 28) and x_val.shape == (10, 28, 28)
    assert x_val.dtype == np.uint8 and y_val.dtype == np.uint8
    assert sorted(y_val.tolist()) == list(range(10))  # one of each class: stratified


def test_split_without_validation():
    images = np.zeros((7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    x_train, x_val, y_train, y_val = split(images, labels, 0.0, seed=0)
    assert x_train is images and y_train is labels
    assert x_val.shape == (0, 28, 28) and y_val.shape == (0,)
    assert x_val.dtype == np.uint8 and y_val.dtype == np.uint8
