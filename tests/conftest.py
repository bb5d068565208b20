import pytest
import torch

from market_env import get_preset


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    # Small tensors on a 2-core machine: one intra-op thread is faster and deterministic.
    torch.set_num_threads(1)
    yield


@pytest.fixture
def quad10():
    return get_preset("quadratic-10")


@pytest.fixture
def power2():
    return get_preset("power-2")
