"""The examples in the library's docstrings (shown on the API reference page) run, and every public
name has one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import textwrap

import pytest

import paraminit


def objects_with_docstrings():
    for info in pkgutil.walk_packages(paraminit.__path__, "paraminit."):
        module = importlib.import_module(info.name)
        yield info.name, module
        for name, member in vars(module).items():
            if (
                inspect.isclass(member) or inspect.isfunction(member)
            ) and member.__module__ == module.__name__:
                yield f"{info.name}.{name}", member
                if inspect.isclass(member):
                    for attr, value in vars(member).items():
                        if inspect.isfunction(value) or isinstance(value, property):
                            yield f"{info.name}.{name}.{attr}", value


# A fence inside a Google-style section ("Example:") is indented; mkdocstrings dedents it to render it.
FENCE = re.compile(r"^([ \t]*)```(?:python|py)[ \t]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def python_fences(docstring: str | None) -> list[str]:
    return [textwrap.dedent(body) for _, body in FENCE.findall(docstring or "")]


EXAMPLES = [
    pytest.param(code, id=f"{name}#{index}")
    for name, obj in objects_with_docstrings()
    for index, code in enumerate(python_fences(inspect.getdoc(obj)))
]


@pytest.mark.parametrize("code", EXAMPLES)
def test_docstring_example_runs(code):
    exec(compile(code, "<docstring example>", "exec"), {"__name__": "__example__"})


@pytest.mark.parametrize("name", paraminit.__all__)
def test_every_public_name_has_an_example(name):
    assert python_fences(inspect.getdoc(getattr(paraminit, name))), f"paraminit.{name} has no example"
