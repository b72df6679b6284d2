"""course_lib.checks: the shared validators, and run_checked on generators and batch sizes."""

import numpy as np
import pytest
import tensorflow as tf

from course_lib import checks as C


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_positive_int_accepts_python_and_numpy_integers(value):
    assert C.positive_int(value, "n") == 3 and type(C.positive_int(value, "n")) is int


@pytest.mark.parametrize("value", [0, -3, np.int64(-3), 2.0, 2.5, True, np.bool_(True), "3", None, np.nan])
def test_positive_int_rejects_what_is_not_a_positive_integer(value):
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got .+\.$"):
        C.positive_int(value, "batch_size")
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got -3\.$"):
        C.positive_int(-3, "batch_size")


def test_check_int_names_its_bounds():
    assert C.check_int(np.int64(0), "depth", minimum=0) == 0
    with pytest.raises(ValueError, match=r"levels must be an integer >= 2, got 1\."):
        C.check_int(1, "levels", minimum=2)
    with pytest.raises(ValueError, match=r"steps must be an integer in 1\.\.10, got 11\."):
        C.check_int(11, "steps", maximum=10)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.float64(0.5), np.int64(1), np.array(0.5)])
def test_check_number_accepts_python_and_numpy_numbers(value):
    assert C.check_number(value, "w", at_least=0) == pytest.approx(float(value))


@pytest.mark.parametrize("value", [np.nan, np.float32(np.nan), np.inf, -np.inf, True, "1", None, [1.0], np.ones(2)])
def test_check_number_rejects_nan_inf_bools_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"^noise_factor must be a finite number >= 0, got .+\.$"):
        C.check_number(value, "noise_factor", at_least=0)


def test_check_number_bounds():
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got 0\."):
        C.check_number(0, "lr", above=0)
    with pytest.raises(ValueError, match=r"min_share must be a finite number >= 0 and <= 1, got 1\.5\."):
        C.check_number(1.5, "min_share", at_least=0, at_most=1)
    with pytest.raises(ValueError, match=r"beta_1 must be a finite number >= 0 and < 1, got 1\."):
        C.check_number(1, "beta_1", at_least=0, below=1)
    assert C.check_number(-2.5, "x") == -2.5


def test_finite_array():
    np.testing.assert_array_equal(C.finite_array([1, 2], "x"), [1.0, 2.0])
    assert C.finite_array(np.ones(2, "float32"), "x", dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match=r"real must hold finite numbers, got 2 NaN or inf value\(s\) in an array "
                                         r"of shape \(3,\)\."):
        C.finite_array([np.nan, 1.0, np.inf], "real")
    with pytest.raises(ValueError, match="must hold numbers, got dtype <U1"):
        C.finite_array(["a"], "x")


def test_concrete_sees_arrays_and_eager_tensors_not_traced_ones():
    x = np.ones(2)
    assert C.concrete(x) is x
    np.testing.assert_array_equal(C.concrete(tf.constant([1.0, 2.0])), [1.0, 2.0])
    assert C.concrete(tf.TensorSpec((None, 2))) is None
    seen = []
    tf.function(lambda t: seen.append(C.concrete(t)) or t)(tf.constant(1.0))
    assert seen == [None]


def test_check_labels_checks_eager_tensors_and_lists_too():
    with pytest.raises(ValueError, match=r"got row 0 = \[0.5, 0.5\]"):
        C.check_labels(tf.constant([[0.5, 0.5]]), 2)
    with pytest.raises(ValueError, match=r"got row 1 = \[nan, 1.0\]"):
        C.check_labels([[0.0, 1.0], [np.nan, 1.0]], 2)
    C.check_labels([[0, 1], [1, 0]], 2)


def test_run_checked_checks_batch_sizes_and_generators():
    calls, checked = [], []

    def method(x, *args, **kwargs):
        calls.append(list(x) if hasattr(x, "__next__") else x)
        return "ran"

    def check(x):
        checked.append(x.shape)
        if x.max() > 1:
            raise ValueError(f"values above 1: {x.max():g}.")

    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got 0\."):
        C.run_checked(method, check, np.zeros(3), batch_size=0)
    with pytest.raises(ValueError, match=r"validation_batch_size must be a positive integer, got -1\."):
        C.run_checked(method, check, np.zeros(3), validation_batch_size=-1)
    assert C.run_checked(method, check, np.zeros(3), batch_size=np.int64(2)) == "ran"

    def batches(top):
        yield np.zeros(2), np.zeros(2)            # (x, y): only x is checked
        yield np.full(2, top), np.zeros(2)

    assert C.run_checked(method, check, batches(1.0)) == "ran" and len(calls[-1]) == 2
    with pytest.raises(ValueError, match="values above 1: 255"):
        C.run_checked(method, check, batches(255.0))

