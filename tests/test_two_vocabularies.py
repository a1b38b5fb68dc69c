"""Names NumPy and PyTorch read differently: the call's form decides, and a form that cannot tell raises.

Every case runs the same call in NumPy or PyTorch on the same input and compares.
"""
import numpy as np
import pytest
import torch

import sparktensor as st
from backends import to_numpy


@pytest.fixture
def a():
    return np.arange(24.0).reshape(2, 3, 4) * 0.5 - 3


# ----- transpose -----
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("pair", [(0, -1), (-1, 0), (0, 0)])
def test_transpose_of_two_ints_swaps_them_at_every_rank_as_pytorch(device, shape, pair):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    expected = torch.tensor(x).transpose(*pair).numpy()
    np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).transpose(*pair)), expected)
    np.testing.assert_array_equal(to_numpy(st.transpose(st.tensor(x, device=device), *pair)), expected)


def test_transpose_0_1_of_a_2d_tensor_swaps(device):
    x = np.arange(6.0).reshape(2, 3)
    t = st.tensor(x, device=device)
    for y in (t.transpose(0, 1), t.transpose(dim0=0, dim1=1)):
        np.testing.assert_array_equal(to_numpy(y), torch.tensor(x).transpose(0, 1).numpy())


@pytest.mark.parametrize("perm", [(0, 1), (1, 0), (2, 0, 1), (0, 1, 2)])
def test_transpose_of_a_tuple_permutes_as_numpy(device, perm):
    x = np.arange(float(np.prod((2, 3, 4)[:len(perm)]))).reshape((2, 3, 4)[:len(perm)])
    np.testing.assert_array_equal(to_numpy(st.tensor(x, device=device).transpose(perm)), x.transpose(perm))
    np.testing.assert_array_equal(to_numpy(st.transpose(st.tensor(x, device=device), perm)), np.transpose(x, perm))
    np.testing.assert_array_equal(to_numpy(np.transpose(st.tensor(x, device=device), perm)), np.transpose(x, perm))


def test_transpose_without_axes_reverses_and_with_a_full_permutation_permutes_as_numpy(device, a):
    t = st.tensor(a, device=device)
    np.testing.assert_array_equal(to_numpy(t.transpose()), a.transpose())
    np.testing.assert_array_equal(to_numpy(t.transpose(1, 2, 0)), a.transpose(1, 2, 0))


def test_transpose_of_a_short_tuple_names_the_swap_spelling(device, a):
    with pytest.raises(ValueError, match="swapaxes"):
        st.tensor(a, device=device).transpose((0, 1))
