"""A stage's pydantic ``Params`` as the one declaration of its options, shared by the pipeline and the CLI.

The pipeline validates a node's ``params:`` through ``Params``; a stage's typer command takes each option's
default and help from the field (:func:`option`) and validates what it was given through the same model
(:func:`build_params`), so a default, a range or a help text is written once, on the field.
"""
from __future__ import annotations

from typing import Any

import pydantic

from headgen.errors import InputError


def option(params_cls: type[pydantic.BaseModel], name: str, *flags: str, **kw: Any):
    """A ``typer.Option`` for the field ``name`` of ``params_cls``: its default and (unless ``help=`` is
    given) its help text (the field's ``description``) come from the field; ``flags`` are the option's
    names (default ``--name-with-dashes``); other keywords go to typer."""
    import typer

    field = params_cls.model_fields[name]
    kw.setdefault("help", field.description)
    default = ... if field.is_required() else field.default   # required: typer asks for it (not 'PydanticUndefined')
    return typer.Option(default, *(flags or ("--" + name.replace("_", "-"),)), **kw)


def build_params(params_cls: type[pydantic.BaseModel], flags: dict[str, str] | None = None, **values: Any):
    """``params_cls(**values)``; a validation error becomes one InputError line naming the option
    (``flags[field]`` or ``--field-name``), the value given and what is wrong."""
    try:
        return params_cls(**values)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        name = str(err["loc"][0]) if err.get("loc") else ""
        flag = (flags or {}).get(name, "--" + name.replace("_", "-"))
        raise InputError(f"{flag} {values.get(name)!r}: {err['msg']}") from None
