"""The documentation in ``docs/``: the API reference matches the code, and every Python block runs as printed."""
import importlib.util
import pathlib
import re

import pytest

import sparktensor

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def _generator():
    spec = importlib.util.spec_from_file_location("generate_api", DOCS / "generate_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python_blocks():
    return [pytest.param(page, code, id=f"{page.name}-{index}")
            for page in PAGES
            for index, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))]


def test_the_pages_exist():
    assert {p.name for p in PAGES} >= {"architecture.md", "algorithms.md", "api.md"}


def test_api_reference_is_up_to_date():
    generated = _generator().render()
    assert generated == (DOCS / "api.md").read_text(), (
        "docs/api.md differs from the code's docstrings: run `python docs/generate_api.py` and commit the result")


def test_api_reference_covers_every_module_and_public_name():
    generator = _generator()
    text = (DOCS / "api.md").read_text()
    for name in generator.MODULES:
        assert f"## `{name}`" in text
        module = importlib.import_module(name)
        for public in generator.public_names(module):
            assert f"`{public}`" in text, f"{name}.{public} is missing from docs/api.md"
    assert "| `vgg_small` | `vgg_small(in_channels=1, classes=10, image_size=28)` |" in text
    assert "`Optimizer`" not in text.split("## `sparktensor.optim.lr_scheduler`")[1].split("## ")[0]


def test_a_new_public_function_changes_the_reference(monkeypatch):
    generator = _generator()
    before = generator.render()

    def shiny_new_function(x, scale=2):
        """Multiply ``x`` by ``scale``, for the test."""
        return x * scale

    shiny_new_function.__module__ = "sparktensor.models.shiny"
    monkeypatch.setattr(sparktensor.models, "shiny_new_function", shiny_new_function, raising=False)
    monkeypatch.setattr(sparktensor.models, "__all__", [*sparktensor.models.__all__, "shiny_new_function"])
    after = generator.render()
    assert after != before
    assert "| `shiny_new_function` | `shiny_new_function(x, scale=2)` | Multiply ``x`` by ``scale``, for the test. |" \
        in after


def test_table_cells_escape_pipes():
    generator = _generator()

    def either(a: int | None = None):
        """One | two."""

    assert generator.signature("either", either) == "either(a: int | None = None)"
    row = f"| {generator._code(generator.signature('either', either))} | {generator._cell(generator.summary(either))} |"
    assert row == r"| `either(a: int \| None = None)` | One \| two. |"


@pytest.mark.parametrize("page, code", _python_blocks())
def test_docs_python_block_runs(page, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files
    exec(compile(code, f"{page.name} python block", "exec"), {"__name__": f"docs_{page.stem}"})


def test_paths_named_in_the_docs_exist():
    for page in PAGES:
        for path in re.findall(r"`((?:sparktensor|bench|tests)/[\w/]+(?:\.py|\.md)?)`", page.read_text()):
            assert (ROOT / path).exists(), f"{page.name} names {path}, which does not exist"
