import pytest
import torch

from ssl_core.data import load_data

TINY_VIT = "vit:dim=32,depth=1,heads=2,patch=8"


@pytest.fixture(scope="session")
def shapes_batch():
    """A fixed uint8 batch of 32 px shapes."""
    return load_data("shapes:n=64", "train", 32, None).images[:16]


@pytest.fixture(autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # other test runs share these cores
    yield
    torch.set_num_threads(old)
