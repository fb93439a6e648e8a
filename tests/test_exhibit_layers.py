"""The layer rules of exhibit/ (see exhibit/__init__.py), checked in fresh processes so nothing imported by another
test can hide a violation."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pygame", "tensorflow", "keras")


def loaded_after_importing(modules):
    """The top-level packages in sys.modules of a fresh interpreter after importing `modules`."""
    code = ("import importlib, sys\n"
            f"for name in {list(modules)!r}:\n"
            "    importlib.import_module(name)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stdout.split())


def modules_under(folder):
    """Dotted names of every module in a folder of exhibit/, except `__main__`s (importing those runs them)."""
    return [".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for path in sorted((ROOT / folder).rglob("*.py")) if path.name != "__main__.py"]


def test_show_imports_neither_pygame_nor_tensorflow():
    show = modules_under("exhibit/show")
    assert "exhibit.show.state" in show and "exhibit.show.choreography" in show
    assert not loaded_after_importing(show) & set(HEAVY)


def test_the_show_process_never_imports_tensorflow():
    """Every module of the exhibit, the command line included: TensorFlow is only ever in the generator process."""
    everything = modules_under("exhibit") + ["exhibit.__main__"]
    assert "exhibit.generation.process" in everything and "exhibit.screen.gpu" in everything
    loaded = loaded_after_importing(everything)
    assert "pygame" in loaded, "the check imported the screen layer"
    assert not loaded & {"tensorflow", "keras"}


def imported_packages(folder):
    """{file: top-level names it imports} for every .py file under a folder."""
    out = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
        out[path.relative_to(ROOT)] = names
    return out


def test_train_and_exhibit_share_only_model():
    for folder, other in (("exhibit", "train"), ("train", "exhibit")):
        offenders = [str(path) for path, names in imported_packages(folder).items() if other in names]
        assert not offenders, f"{folder}/ must not import {other}/: {offenders}"


def test_show_does_not_even_mention_pygame_or_tensorflow_lazily():
    """A function-level import would slip past the import check above until the function runs."""
    offenders = {str(path): names & set(HEAVY) for path, names in imported_packages("exhibit/show").items()
                 if names & set(HEAVY)}
    assert not offenders
