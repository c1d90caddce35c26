"""Global state only: the tests' models are tiny, and tiny ops run fastest (and most predictably) on one thread,
while two threads contending for a shared 2-core machine can make them many times slower."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
