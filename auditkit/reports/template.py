"""Report templates: where they are, what they declare, and checking parameters.

A template is a notebook in the templates directory (see :func:`templates_dir`) whose
cell tagged ``parameters`` declares each parameter on one line::

    store: Path = ...  # event store directory
    period: str = "last week"  # last week, last month, yesterday, 2024-06-10..2024-06-16

A default of ``...`` marks a required parameter. Types are ``str``, ``int``, ``float``,
``bool`` and ``Path`` (resolved against the caller's working directory).
:func:`check_parameters` rejects unknown, missing and malformed values, listing the
declared parameters, before anything runs.
"""

from __future__ import annotations

import ast
import io
import json
import os
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError, NotFoundError

__all__ = [
    "TEMPLATES_ENV",
    "Parameter",
    "ParameterError",
    "Template",
    "TemplateError",
    "check_parameters",
    "get_template",
    "list_templates",
    "read_template",
    "templates_dir",
]

#: Environment variable naming an extra directory of templates (searched first).
TEMPLATES_ENV = "AUDITKIT_REPORT_TEMPLATES"
TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "Path": str}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class TemplateError(AuditkitError, ValueError):
    """A template notebook cannot be read or its ``parameters`` cell is malformed.

    Attributes:
        report: the template's name.
    """

    def __init__(self, report: str, message: str) -> None:
        super().__init__(f"report template {report!r}: {message}")
        self.report = report


class ParameterError(AuditkitError, ValueError):
    """Parameters given to a report do not match the ones it declares.

    Attributes:
        report: the template's name.
        unknown: names given that the template does not declare.
        missing: required names not given.
        invalid: ``{name: reason}`` for values of the wrong type or form.
        declared: every declared parameter name.
    """

    def __init__(
        self,
        report: str,
        *,
        unknown: list[str] | None = None,
        missing: list[str] | None = None,
        invalid: dict[str, str] | None = None,
        declared: list[Parameter] | None = None,
    ) -> None:
        self.report = report
        self.unknown = unknown or []
        self.missing = missing or []
        self.invalid = invalid or {}
        self.declared = [p.name for p in declared or []]
        parts = []
        if self.unknown:
            parts.append("unknown parameters: " + ", ".join(self.unknown))
        if self.missing:
            parts.append("missing required parameters: " + ", ".join(self.missing))
        for name, reason in self.invalid.items():
            parts.append(f"bad value for {name}: {reason}")
        lines = [f"report {report!r}: " + "; ".join(parts), "declared parameters:"]
        lines += [f"  {p.signature()}" for p in declared or []]
        lines.append(f"Hint: auditkit report run {report} -p NAME=VALUE …")
        super().__init__("\n".join(lines))


_REQUIRED: Any = ...


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a template.

    Attributes:
        name: the variable name.
        type: ``str``, ``int``, ``float``, ``bool`` or ``Path``.
        default: the default value (``...`` when required).
        help: the comment after the declaration.
    """

    name: str
    type: str
    default: Any
    help: str = ""

    @property
    def required(self) -> bool:
        """True when the template gives no default."""
        return self.default is _REQUIRED

    def signature(self) -> str:
        """``name: type = default  # help`` as shown by ``auditkit report list``."""
        default = "(required)" if self.required else f"= {self.default!r}"
        text = f"{self.name}: {self.type} {default}"
        return f"{text}  — {self.help}" if self.help else text

    def convert(self, value: Any) -> Any:
        """``value`` (text from the command line, or a Python value) as this type.

        Raises:
            ValueError: naming the expected type.
        """
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"{value!r} is not a boolean (true/false, yes/no, 1/0)")
        if self.type in ("int", "float"):
            if isinstance(value, bool):
                raise ValueError(f"{value!r} is not a number")
            try:
                return int(value) if self.type == "int" else float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{value!r} is not {'an int' if self.type == 'int' else 'a number'}"
                ) from None
        if self.type == "Path":
            return str(Path(os.fspath(value)).expanduser().resolve())
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not text")
        return value


@dataclass(frozen=True)
class Template:
    """A report template: a notebook with a ``parameters`` cell.

    Attributes:
        name: the file name without ``.ipynb``.
        path: the notebook.
        title: the report's title (notebook metadata ``auditkit.title``).
        description: one paragraph (notebook metadata ``auditkit.description``).
        parameters: the declared parameters, in order.
    """

    name: str
    path: Path
    title: str
    description: str
    parameters: tuple[Parameter, ...]

    def parameter(self, name: str) -> Parameter | None:
        """The declared parameter ``name``, or None."""
        return next((p for p in self.parameters if p.name == name), None)


# -- templates ------------------------------------------------------------------------


def templates_dir() -> Path:
    """The built-in templates: ``reports/`` of the checkout, packaged as
    ``auditkit/reports/templates`` (a link to it) so an installed auditkit has them too."""
    packaged = Path(__file__).resolve().parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "reports"  # pragma: no cover


def _search_dirs(directory: str | Path | None) -> list[Path]:
    dirs = []
    if directory is not None:
        dirs.append(Path(directory))
    elif os.environ.get(TEMPLATES_ENV):
        dirs.append(Path(os.environ[TEMPLATES_ENV]))
    dirs.append(templates_dir())
    return dirs


def list_templates(directory: str | Path | None = None) -> list[Template]:
    """Every template, by name (an extra ``directory`` overrides built-ins of the same name)."""
    found: dict[str, Template] = {}
    for folder in reversed(_search_dirs(directory)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.ipynb")):
            if not path.name.startswith((".", "_")):
                found[path.stem] = read_template(path)
    return [found[name] for name in sorted(found)]


def get_template(name: str | Path, directory: str | Path | None = None) -> Template:
    """The template ``name``, or the notebook at a path ending in ``.ipynb``.

    Raises:
        NotFoundError: listing the available templates.
    """
    text = os.fspath(name)
    if text.endswith(".ipynb"):
        path = Path(text)
        if not path.is_file():
            raise NotFoundError(f"no report template at {path}")
        return read_template(path)
    for folder in _search_dirs(directory):
        path = folder / f"{text}.ipynb"
        if path.is_file():
            return read_template(path)
    names = ", ".join(t.name for t in list_templates(directory)) or "(none)"
    raise NotFoundError(
        f"no report named {text!r}; available reports: {names}\n"
        "Hint: `auditkit report list` describes each one."
    )


def read_template(path: Path) -> Template:
    """Read a template's title, description and declared parameters.

    Raises:
        TemplateError: the notebook has no ``parameters`` cell or it cannot be read.
    """
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TemplateError(path.stem, f"cannot read {path}: {exc}") from None
    meta = nb.get("metadata", {}).get("auditkit", {})
    cells = [
        c
        for c in nb.get("cells", [])
        if c.get("cell_type") == "code" and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if len(cells) != 1:
        raise TemplateError(
            path.stem,
            f"{path} must have exactly one code cell tagged 'parameters' (found {len(cells)})",
        )
    source = cells[0]["source"]
    source = "".join(source) if isinstance(source, list) else source
    return Template(
        name=path.stem,
        path=path,
        title=str(meta.get("title") or path.stem.replace("_", " ").capitalize()),
        description=str(meta.get("description", "")),
        parameters=tuple(_parameters(path.stem, source)),
    )


def _parameters(report: str, source: str) -> list[Parameter]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise TemplateError(report, f"the parameters cell does not parse: {exc}") from None
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out = []
    for node in tree.body:
        if not (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            raise TemplateError(
                report,
                f"line {node.lineno} of the parameters cell is not `name: type = value`; "
                'declare each parameter as e.g. `period: str = "last week"  # help`',
            )
        kind = ast.unparse(node.annotation)
        if kind not in TYPES:
            raise TemplateError(
                report,
                f"parameter {node.target.id!r} has type {kind!r}; "
                f"supported types: {', '.join(TYPES)}",
            )
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise TemplateError(
                report, f"parameter {node.target.id!r}: the default must be a literal or ..."
            ) from None
        out.append(Parameter(node.target.id, kind, default, comments.get(node.lineno, "")))
    return out


def check_parameters(template: Template, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value: given ones converted to their type, defaults
    for the rest.

    Well-known names are checked for form too: ``period`` (period words), ``tz`` (an
    IANA zone), ``query`` (the search language), ``now`` (an ISO 8601 instant).

    Raises:
        ParameterError: unknown, missing or invalid parameters, listing the declared ones.
    """
    declared = {p.name: p for p in template.parameters}
    unknown = sorted(set(given) - set(declared))
    missing = [p.name for p in template.parameters if p.required and p.name not in given]
    invalid: dict[str, str] = {}
    values: dict[str, Any] = {}
    for param in template.parameters:
        if param.name not in given:
            if not param.required:
                values[param.name] = param.default
            continue
        try:
            values[param.name] = param.convert(given[param.name])
        except ValueError as exc:
            invalid[param.name] = str(exc)
    if not (unknown or missing or invalid):
        invalid.update(_check_forms(values))
    if unknown or missing or invalid:
        raise ParameterError(
            template.name,
            unknown=unknown,
            missing=missing,
            invalid=invalid,
            declared=list(template.parameters),
        )
    return values


def _check_forms(values: Mapping[str, Any]) -> dict[str, str]:
    from auditkit.reports.notebook import parse_now
    from auditkit.reports.period import resolve_period, zone
    from auditkit.search import parse

    bad: dict[str, str] = {}
    tz = values.get("tz") or "UTC"
    checks = {
        "tz": lambda v: zone(v),
        "now": lambda v: parse_now(v),
        "query": lambda v: parse(v),
        "period": lambda v: resolve_period(v, tz="UTC"),
        "start": lambda v: resolve_period(v, tz="UTC"),
        "end": lambda v: resolve_period(v, tz="UTC"),
    }
    for name, check in checks.items():
        value = values.get(name)
        if isinstance(value, str) and value:
            try:
                check(value)
            except (AuditkitError, ValueError) as exc:
                bad[name] = str(exc).splitlines()[0] if name != "query" else str(exc)
    if "start" in values and "end" in values and bool(values["start"]) != bool(values["end"]):
        missing = "end" if values["start"] else "start"
        bad[missing] = "give both start and end (first and last day, YYYY-MM-DD), or neither"
    if not bad and values.get("start") and values.get("end"):
        try:
            resolve_period(f"{values['start']}..{values['end']}", tz=tz)
        except ValueError as exc:
            bad["end"] = str(exc).splitlines()[0]
    return bad
