"""LlamaIndex's own environment: without it the LlamaIndex rows fail saying how to install it
(they never skip), and an install of other pins is not taken for this one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import llamaindex_env


def test_a_missing_environment_says_to_run_make_install(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="run `make install`"):
        llamaindex_env.installed(tmp_path)


def test_an_install_of_other_pins_is_not_this_one(tmp_path: Path) -> None:
    python = llamaindex_env.python(tmp_path)
    python.parent.mkdir(parents=True)
    python.touch()
    (tmp_path / llamaindex_env.READY_MARKER).write_text("llama-index-llms-openai-like==0.7.0\n")
    with pytest.raises(RuntimeError, match="run `make install`"):
        llamaindex_env.installed(tmp_path)
    (tmp_path / llamaindex_env.READY_MARKER).write_text("\n".join(llamaindex_env.PACKAGES))
    assert llamaindex_env.installed(tmp_path) == python
