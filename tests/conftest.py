"""Fixtures shared by the test files."""

import pytest
import torch

from speechbrain_atkl.data.demo import create_demo_corpus


@pytest.fixture(scope="module")
def one_thread():
    """Runs a test module on one torch thread: tiny, frame-sized work is fastest so,
    and a busy 2-core machine is not oversubscribed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A tiny demo corpus (6 clean, 3 noises, 2 room responses, 2 test mixtures) for recipe runs."""
    folder = tmp_path_factory.mktemp("corpus")
    create_demo_corpus(
        folder, seed=0, n_clean=6, clean_seconds=(1.0, 1.5), n_noise=3, noise_seconds=2.0,
        n_rir=2, n_test=2, test_seconds=1.0,
    )
    return folder
