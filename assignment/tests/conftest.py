"""Loads your exercise for the public tests: the .py file or the notebook, whichever you work in.

Which edition is tested, with both ``batchnorm_gradclip_exercise.py`` and
``batchnorm_gradclip_exercise.ipynb`` beside the ``tests`` folder (as the assignment ships them):
the one you have started, i.e. the one with fewer "not implemented yet" stubs left. With as many
stubs left in both, the .py; with none left in either, both (each test then runs once per
edition). Set ``BNGC_EXERCISE`` to a file's path to test that file.

A notebook is imported as the grader does it: its code cells run in order, as one module, with
these left out: cells tagged ``active-ipynb`` (the experiment and the ``check`` cells; they run
in Jupyter only), ``otter_ignore`` or ``bngc-grader``, cell magics (``%%bash``, ...) and lines
of IPython syntax (``%time``, ``!pip``). In a notebook, ``check("add_batchnorm")`` (from
exercise_utils.py) runs these tests on the functions the notebook defined.
"""

import importlib.util
import json
import os
import pathlib
import re
import types

import pytest

HERE = pathlib.Path(__file__).resolve().parent
EXERCISE = HERE.parent / "batchnorm_gradclip_exercise.py"
NOTEBOOK = EXERCISE.with_suffix(".ipynb")
STUB = "is not implemented yet"
NOTEBOOK_ONLY_TAGS = {"active-ipynb", "otter_ignore", "bngc-grader"}
KEPT_CELL_MAGICS = ("%%time", "%%capture")  # their body is plain Python, kept as the grader does
IPYTHON_LINE = re.compile(r"^\s*(?:[%!]|\S+\s*=\s*[%!])")  # %magic, !shell, x = !ls


def notebook_code_cells(path: pathlib.Path) -> list[tuple[int, str]]:
    """(code cell number from 1, its Python code) for every code cell that is graded."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise pytest.UsageError(
            f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc}); save it again "
            "from Jupyter"
        ) from None
    code_cells = [cell for cell in cells if cell.get("cell_type") == "code"]
    graded = []
    for number, cell in enumerate(code_cells, start=1):
        if NOTEBOOK_ONLY_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        first = source.lstrip().split("\n", 1)[0].strip()
        if first.startswith("%%"):
            if not first.startswith(KEPT_CELL_MAGICS):
                continue
            source = source.lstrip().split("\n", 1)[1] if "\n" in source.strip() else ""
        graded.append((number, _without_ipython_lines(source)))
    return graded


def _without_ipython_lines(source: str) -> str:
    """A cell's code with each line of IPython syntax replaced by ``pass`` (plain Python, which
    compiles, is left as it is)."""
    try:
        compile(source, "cell", "exec")
    except SyntaxError:
        lines = source.split("\n")
        return "\n".join(
            re.sub(r"\S.*", "pass  # IPython syntax, left out", line)
            if IPYTHON_LINE.match(line)
            else line
            for line in lines
        )
    return source


def load_exercise(path: pathlib.Path) -> types.ModuleType:
    """The exercise as a module: the .py file imported, or the notebook's graded cells run."""
    if path.suffix != ".ipynb":
        spec = importlib.util.spec_from_file_location("batchnorm_gradclip_exercise", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    module = types.ModuleType("batchnorm_gradclip_exercise")
    module.__file__ = str(path)
    for number, code in notebook_code_cells(path):
        exec(compile(code, f"{path.name}, code cell {number}", "exec"), module.__dict__)
    return module


def stubs_left(path: pathlib.Path) -> int:
    """How many "not implemented yet" stubs an edition still has (its code only)."""
    if path.suffix == ".ipynb":
        return sum(code.count(STUB) for _, code in notebook_code_cells(path))
    return path.read_text(encoding="utf-8").count(STUB)


def editions() -> list[pathlib.Path]:
    """The edition(s) to test (see the module's docstring)."""
    if os.environ.get("BNGC_EXERCISE"):
        return [pathlib.Path(os.environ["BNGC_EXERCISE"]).resolve()]
    present = [p for p in (EXERCISE, NOTEBOOK) if p.is_file()]
    if len(present) < 2:
        return present
    py, nb = stubs_left(EXERCISE), stubs_left(NOTEBOOK)
    if py == nb == 0:
        return present
    return [NOTEBOOK] if nb < py else [EXERCISE]


def _notebook_namespace(config: pytest.Config) -> types.ModuleType | None:
    """The code a notebook's ``check(...)`` call passed in (exercise_utils.py), if any."""
    modules = (getattr(p, "bngc_exercise_module", None) for p in config.pluginmanager.get_plugins())
    return next((m for m in modules if isinstance(m, types.ModuleType)), None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """With both editions worked on, run every test on each of them."""
    if "ex" not in metafunc.fixturenames or _notebook_namespace(metafunc.config) is not None:
        return
    chosen = editions()
    if len(chosen) > 1:
        ids = [p.suffix.lstrip(".") for p in chosen]
        metafunc.parametrize("ex", chosen, ids=ids, indirect=True, scope="session")


@pytest.fixture(scope="session")
def ex(request: pytest.FixtureRequest) -> types.ModuleType:
    """Your exercise (the .py file or the notebook's code), as a module."""
    injected = _notebook_namespace(request.config)
    if injected is not None:
        return injected
    path = getattr(request, "param", None)
    if path is None:
        chosen = editions()
        if not chosen:
            pytest.exit(f"no {EXERCISE.name} or {NOTEBOOK.name} in {HERE.parent}", returncode=4)
        path = chosen[0]
    if not path.is_file():
        pytest.exit(f"BNGC_EXERCISE={path} is not a file", returncode=4)
    return load_exercise(path)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which edition the tests run on."""
    if _notebook_namespace(config) is not None:
        return "exercise: the code of this notebook (check)"
    return "exercise: " + (" and ".join(p.name for p in editions()) or "none found")
