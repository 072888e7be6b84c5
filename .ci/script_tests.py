"""The little test runner the .ci/test_*.py scripts share: no pytest to install in CI.

Each script defines `test_*` functions and calls `run_tests(globals(), label, fixture)`; every
test gets a fresh fixture (made inside its own temporary directory when the fixture takes one),
a failed assert is reported with its message, and the exit status is 1 if any test failed.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Callable


def run_tests(namespace: dict, label: str, fixture: Callable[[Path], object] | None = None) -> int:
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    passed = failed = 0
    for test in tests:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                if fixture is None or not inspect.signature(test).parameters:
                    test()
                else:
                    test(fixture(Path(tmp)))
                passed += 1
                print(f"ok   {test.__name__}")
            except AssertionError as e:
                failed += 1
                print(f"FAIL {test.__name__}: {e}")
    print(f"{label}: {passed} passed, {failed} failed")
    return 1 if failed else 0
