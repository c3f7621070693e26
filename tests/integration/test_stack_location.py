"""A checkout the services' OS user cannot reach (a clone under a mode-700 directory) still gets a stack.

Only meaningful as root, where the services run as ``postgres``: the layout moves to
/var/lib/stockula/<hash of the checkout's path>, linked from <checkout>/.stack, and says so.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stockula_pipelines.stack.errors import StackError
from stockula_pipelines.stack.layout import SHARED_STACK_ROOT, RunAs, StackLayout

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the services change OS user only under root")


@pytest.fixture()
def private_checkout(tmp_path: Path, monkeypatch):
    private = tmp_path / "home"
    checkout = private / "clone"
    checkout.mkdir(parents=True)
    private.chmod(0o700)
    monkeypatch.setenv("STOCKULA_HOME", str(checkout))
    yield checkout
    link = checkout / ".stack"
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)
        link.unlink()


def test_unreachable_checkout_keeps_its_stack_under_var_lib(private_checkout: Path):
    said: list[str] = []
    run_as = RunAs.for_current_process()
    layout = StackLayout(private_checkout / ".stack").relocated(run_as, said.append)
    assert layout.root.parent == SHARED_STACK_ROOT
    assert (private_checkout / ".stack").resolve() == layout.root
    assert said and str(layout.root) in said[0]
    layout.prepare(run_as)  # raises when the service account cannot write its run directory
    assert run_as.run(["/usr/bin/test", "-w", str(layout.run)], check=False).returncode == 0
    # The next command finds the same place through the link, with no setting.
    again = StackLayout((private_checkout / ".stack").resolve()).relocated(run_as, said.append)
    assert again.root == layout.root and len(said) == 1


def test_an_explicit_unreachable_stack_dir_fails_with_the_setting_named(tmp_path: Path, private_checkout: Path):
    explicit = private_checkout / "elsewhere"
    run_as = RunAs.for_current_process()
    layout = StackLayout(explicit).relocated(run_as)
    assert layout.root == explicit
    with pytest.raises(StackError, match="STOCKULA_STACK_DIR"):
        layout.prepare(run_as)
