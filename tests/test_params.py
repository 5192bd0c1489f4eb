"""The typed parameters module is generated from the endpoint table and kept in step with it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_params_module_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_params", ROOT / "tools" / "gen_params.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_params"] = module
    try:
        spec.loader.exec_module(module)
        expected = module.render()
    finally:
        del sys.modules["gen_params"]
    actual = (ROOT / "usage_async" / "_params.py").read_text()
    assert actual == expected, "run: python tools/gen_params.py"
