"""Write ``docs/api.md``, the API reference, from the docstrings of sparktensor's public modules.

Run ``python docs/generate_api.py`` after adding, removing or documenting a public name; ``tests/test_docs.py``
fails while ``api.md`` differs from what this script writes. ``render()`` returns the text without writing it.

What is public: a module's ``__all__`` where it has one; otherwise its names that do not start with ``_`` and
are not modules, where functions come from sparktensor and classes from the module itself or below it (so a
class merely imported for use, like ``Optimizer`` in ``lr_scheduler``, is listed where it is defined). Each name
gets its signature and the first paragraph of its docstring; each class also gets a table of the public methods
and properties it defines (those without a docstring of their own that override a base class are left out).
"""
import importlib
import inspect
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"
MODULES = ("sparktensor", "sparktensor.nn", "sparktensor.nn.functional", "sparktensor.optim",
           "sparktensor.optim.lr_scheduler", "sparktensor.data", "sparktensor.models", "sparktensor.dist",
           "sparktensor.autograd", "sparktensor.autograd.functional", "sparktensor.linalg", "sparktensor.fft",
           "sparktensor.scaling")
HEADER = ("# API reference\n\n"
          "Generated from the docstrings by `python docs/generate_api.py`; do not edit by hand. Signatures and the "
          "first paragraph of each docstring; `help(name)` in Python shows the rest.\n")


def public_names(module):
    """The public names of ``module``, sorted (see the module docstring for the rule)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return sorted(names)
    chosen = []
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        home = getattr(obj, "__module__", None) or ""
        if inspect.isclass(obj) and not home.startswith(module.__name__):
            continue
        if callable(obj) and not home.startswith("sparktensor"):
            continue
        chosen.append(name)
    return sorted(chosen)


def summary(obj):
    """The first paragraph of ``obj``'s docstring on one line (empty when it has none)."""
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def signature(name, obj):
    """``name(arguments)``; the class's constructor arguments for a class."""
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        text = "(...)"
    return name + re.sub(r" at 0x[0-9a-f]+", "", text)  # default values must not carry memory addresses


def _cell(text):
    """Text that is safe in one cell of a Markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text):
    return f"`{_cell(text)}`"


def _own_members(cls):
    """``(name, kind, member)`` for the public methods and properties ``cls`` defines itself."""
    bases = cls.__mro__[1:]
    members = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            kind = "property"
        elif inspect.isfunction(member):
            kind = "method"
        else:
            continue
        doc = member.__doc__ if kind == "method" else member.fget.__doc__ if member.fget else None
        if not doc and any(hasattr(base, name) for base in bases):
            continue  # forward, extra_repr...: documented on the base class
        members.append((name, kind, member))
    return sorted(members)


def _member_summary(name, kind, member):
    """A member's own summary; for an undocumented method, that of the package's function of the same name."""
    text = summary(member.fget if kind == "property" else member)
    package = sys.modules["sparktensor"]
    if not text and kind == "method" and callable(getattr(package, name, None)) and summary(getattr(package, name)):
        text = f"As `sparktensor.{name}`: {summary(getattr(package, name))}"
    return text


def _class_table(qualified, cls):
    rows = []
    for name, kind, member in _own_members(cls):
        shown = name if kind == "property" else re.sub(r"^(\w+)\((self|cls)(, )?", r"\1(", signature(name, member))
        rows.append(f"| {_code(shown)} | {kind} | {_cell(_member_summary(name, kind, member))} |")
    if not rows:
        return []
    return [f"### `{qualified}`", "", "| member | kind | summary |", "|---|---|---|", *rows, ""]


def render_module(module_name, described):
    """The section of ``api.md`` for one module; ``described`` maps classes already given a members table to
    their names, and grows."""
    module = importlib.import_module(module_name)
    lines = [f"## `{module_name}`", "", summary(module), "", "| name | signature | summary |", "|---|---|---|"]
    values, classes = [], []
    for name in public_names(module):
        obj = getattr(module, name)
        if not callable(obj):
            values.append(f"`{name}`")
            continue
        canonical = getattr(obj, "__name__", name)
        if canonical != name and canonical in vars(module) and getattr(module, canonical) is obj:
            lines.append(f"| `{name}` | alias of `{canonical}` | |")
            continue
        lines.append(f"| `{name}` | {_code(signature(name, obj))} | {_cell(summary(obj))} |")
        if inspect.isclass(obj):
            classes.append((f"{module_name}.{name}", obj))
    lines.append("")
    if values:
        lines += [f"Values: {', '.join(values)}.", ""]
    for qualified, cls in classes:
        if cls in described:
            lines += [f"`{qualified}` is `{described[cls]}`.", ""]
            continue
        table = _class_table(qualified, cls)
        if table:
            described[cls] = qualified
            lines += table
    return lines


def render():
    """The whole text of ``api.md``."""
    contents = [f"- [`{name}`](#{name.replace('.', '')})" for name in MODULES]
    lines, described = [HEADER, *contents, ""], {}
    for name in MODULES:
        lines += render_module(name, described)
    return "\n".join(lines).rstrip("\n") + "\n"


def main():
    """Write ``docs/api.md``."""
    API.write_text(render())
    print(f"wrote {API}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
