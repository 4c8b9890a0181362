"""Every docstring example in thinc_fast runs, as part of the test command."""
import doctest
import importlib
import pkgutil

import pytest

import thinc_fast

# modules whose import needs an optional dependency that may be missing
OPTIONAL = {"thinc_fast.backends.cupy_ops": "cupy", "thinc_fast.distributed.ray": "ray",
            "thinc_fast.backends.thinc_backend": "thinc", "thinc_fast.spacy_callbacks": "thinc"}


def module_names():
    names = [thinc_fast.__name__]
    for info in pkgutil.walk_packages(thinc_fast.__path__, prefix="thinc_fast."):
        if not info.name.endswith("__main__"):  # runs the CLI when imported
            names.append(info.name)
    return sorted(names)


def load(name):
    try:
        return importlib.import_module(name)
    except ImportError as err:
        if name in OPTIONAL and OPTIONAL[name] in str(err):
            pytest.skip(f"{name} needs {OPTIONAL[name]}: {err}")
        raise


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples_run(name):
    module = load(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_the_examples_are_found():
    total = 0
    for name in module_names():
        if name in OPTIONAL:
            continue
        module = importlib.import_module(name)  # the others need nothing optional
        total += sum(len(t.examples) for t in doctest.DocTestFinder().find(module, name))
    assert total >= 5, f"only {total} docstring examples found: is the finder looking?"
