"""Tests of speechbrain_atkl.allocator (glibc mmap/trim thresholds)."""

import json
import os
import platform
import subprocess
import sys

import pytest

from speechbrain_atkl.allocator import DEFAULT_THRESHOLD_MIB, ENV_VAR, tune_allocator

# In a fresh process: set the allocator up as the environment says, then allocate, touch and
# free a 64 MiB block five times; print what tune_allocator returned and the minor page faults.
CHILD = """
import ctypes, json, resource
from speechbrain_atkl.allocator import tune_allocator
applied = tune_allocator()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def run_child(setting):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env[ENV_VAR] = setting
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_large_blocks_are_reused_without_page_faults():
    default, off = run_child(""), run_child("off")
    assert default["applied"] == DEFAULT_THRESHOLD_MIB << 20 and off["applied"] is None
    # glibc's defaults: each 64 MiB block is a fresh mmap, 16 k faults of 4 KiB pages each time.
    assert off["faults"] > 4 * (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    # Tuned: the block is faulted in once, then reused.
    assert default["faults"] < off["faults"] / 3


@pytest.mark.parametrize(
    "environ",
    [
        {ENV_VAR: "off"},
        {ENV_VAR: "0"},
        {ENV_VAR: "lots"},
        {ENV_VAR: "4096"},  # beyond what mallopt's int takes
        {"MALLOC_MMAP_THRESHOLD_": "1000000"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"},
    ],
)
def test_left_alone(environ, caplog):
    assert tune_allocator(environ) is None
    if environ.get(ENV_VAR) in ("lots", "4096"):
        assert f"{ENV_VAR}='{environ[ENV_VAR]}'" in caplog.text
