"""Run a report: check its parameters, execute it with papermill, render offline HTML.

:func:`run_report` rejects unknown and missing parameters (listing the declared ones)
before starting a kernel, executes the notebook with papermill in a staging directory
(the kernel's working directory, where attachments are written), exports the executed
notebook to HTML without code cells and without any network reference, and only then
moves the results into place — the HTML last, by an atomic rename. A failing cell raises
:class:`ReportError` naming the report, the cell and the error, and leaves no HTML.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError, MissingDependencyError
from auditkit.reports.template import Template, check_parameters, get_template

__all__ = [
    "KERNEL",
    "ReportError",
    "ReportResult",
    "check_offline",
    "render_html",
    "run_report",
    "skip_iri_checker",
]

#: The Jupyter kernel reports run in: the Python that runs auditkit.
KERNEL = "python3"


class ReportError(AuditkitError, RuntimeError):
    """A report run failed; nothing was published in the output directory.

    Attributes:
        report: the template's name.
        cell_index: 0-based index of the failing cell in the template, or None when
            the run failed outside a cell (kernel start, HTML export). The executed
            notebook kept for inspection marks the cell too (papermill adds an injected
            parameters cell and an error banner, so its indexes differ).
        ename: the exception's class name (``StoreError``), when a cell failed.
        evalue: the exception's message.
        source: the first lines of the failing cell.
        notebook: the executed notebook kept for inspection (``NAME.failed.ipynb``).
    """

    def __init__(
        self,
        report: str,
        message: str,
        *,
        cell_index: int | None = None,
        ename: str | None = None,
        evalue: str | None = None,
        source: str = "",
        notebook: Path | None = None,
    ) -> None:
        where = f" in cell {cell_index}" if cell_index is not None else ""
        text = f"report {report!r} failed{where}: {message}"
        if source:
            text += "\n  cell: " + source.strip().splitlines()[0][:120]
        if notebook:
            text += f"\n  executed notebook: {notebook}"
        super().__init__(text)
        self.report = report
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.source = source
        self.notebook = notebook


@dataclass(frozen=True)
class ReportResult:
    """What a report run produced.

    Attributes:
        name: the template's name.
        title: the title the report printed ("Activity summary — 2024-06-10 to …").
        html: the self-contained HTML file.
        notebook: the executed notebook.
        attachments: files the report wrote (CSV tables, exports and manifests).
        seconds: wall time of the whole run.
        timings: seconds per step: ``check``, ``kernel`` (start and shutdown),
            ``cells`` (all cells), ``data``/``charts``/``tables``/``other`` (inside the
            cells, as the report measured them), ``html`` (export and checks), ``publish``.
        info: what the report said about itself (period, query, its English description).
        parameters: the parameter values the notebook ran with.
    """

    name: str
    title: str
    html: Path
    notebook: Path
    attachments: tuple[Path, ...]
    seconds: float
    timings: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


# -- running ---------------------------------------------------------------------------


def run_report(
    name: str | Path,
    params: Mapping[str, Any] | None = None,
    out_dir: str | Path = ".",
    *,
    templates: str | Path | None = None,
    kernel_name: str = KERNEL,
    timeout: float | None = None,
) -> ReportResult:
    """Run a report and publish ``NAME.html``, ``NAME.ipynb`` and ``NAME-attachments/``.

    Args:
        name: a template name (``activity_summary``) or a path to a template notebook.
        params: parameter values (text is converted to each declared type).
        out_dir: where the results go (created if needed).
        templates: an extra directory of templates, searched before the built-ins.
        kernel_name: the Jupyter kernel (``python3``: the Python running auditkit).
        timeout: seconds a single cell may run (None: no limit).

    Returns:
        The files written and where the time went.

    Raises:
        ParameterError: before anything runs, for unknown, missing or invalid parameters.
        ReportError: a cell failed, the kernel died, or the HTML would not be offline;
            nothing is published except ``NAME.failed.ipynb`` for inspection.
    """
    started = time.perf_counter()
    template = get_template(name, templates)
    values = check_parameters(template, dict(params or {}))
    timings: dict[str, float] = {"check": time.perf_counter() - started}
    tick = time.perf_counter()
    skip_iri_checker()
    papermill = _import("papermill")
    from papermill.exceptions import PapermillExecutionError

    timings["import"] = time.perf_counter() - tick

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".{template.name}.{uuid.uuid4().hex[:12]}.partial"
    files = staging / "attachments"
    files.mkdir(parents=True)
    executed = staging / f"{template.name}.ipynb"
    sockets = Path(tempfile.mkdtemp(prefix="auditkit-kernel-"))
    threading.Thread(target=_prepare_exporter, name="auditkit-html", daemon=True).start()
    try:
        tick = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(template.path),
                str(executed),
                parameters=values,
                kernel_name=kernel_name,
                language="python",
                progress_bar=False,
                log_output=False,
                cwd=str(files),
                execution_timeout=timeout,
                **_kernel_transport(sockets),
            )
        except PapermillExecutionError as exc:
            failed = _keep_failed(executed, out, template.name)
            raise ReportError(
                template.name,
                f"{exc.ename}: {exc.evalue}",
                cell_index=_template_cell(template, exc.cell_index),
                ename=exc.ename,
                evalue=exc.evalue,
                source=exc.source,
                notebook=failed,
            ) from None
        except Exception as exc:  # kernel died, no such kernel, timeout, …
            failed = _keep_failed(executed, out, template.name)
            log = _kernel_log(sockets)
            raise ReportError(
                template.name,
                f"{type(exc).__name__}: {exc}" + (f"\n  kernel log:\n{log}" if log else ""),
                ename=type(exc).__name__,
                evalue=str(exc),
                notebook=failed,
            ) from exc
        run_seconds = time.perf_counter() - tick
        nbformat = _import("nbformat")
        nb = nbformat.read(str(executed), as_version=4)
        info, inner = _report_info(nb)
        cells = sum(
            float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
            for c in nb["cells"]
        )
        timings["kernel"] = max(0.0, run_seconds - cells)
        timings["cells"] = cells
        timings.update(inner)

        tick = time.perf_counter()
        title = str(info.get("title") or template.title)
        page = render_html(nb, title)
        problems = check_offline(page)
        if problems:
            raise ReportError(
                template.name,
                "the HTML would fetch from the network: " + "; ".join(problems[:5]),
            )
        html_tmp = staging / f"{template.name}.html"
        html_tmp.write_text(page, encoding="utf-8")
        timings["html"] = time.perf_counter() - tick

        tick = time.perf_counter()
        result = _publish(template.name, staging, files, out)
        timings["publish"] = time.perf_counter() - tick
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)
    html_path, nb_path, attachments = result
    return ReportResult(
        name=template.name,
        title=title,
        html=html_path,
        notebook=nb_path,
        attachments=attachments,
        seconds=time.perf_counter() - started,
        timings={k: round(v, 4) for k, v in timings.items()},
        info=info,
        parameters=values,
    )


def _import(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(module, "reports") from exc


def skip_iri_checker() -> None:
    """Keep jsonschema from loading its optional IRI-format checker in this process.

    papermill and nbformat (here) and altair (in the kernel) import jsonschema, which
    imports ``rfc3987_syntax`` when it is installed (JupyterLab installs it) to check the
    ``iri`` format; that package compiles a grammar at import, about 2 s. jsonschema
    checks formats only when a caller asks for a format checker, and then treats a
    format it has no checker for as valid, so nothing auditkit does changes. Does
    nothing when jsonschema is already imported.
    """
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def _kernel_transport(folder: Path) -> dict[str, Any]:
    """A kernel manager that talks to the kernel over Unix sockets in a private
    directory (not loopback TCP) and sends the kernel's own log to ``folder/kernel.log``
    (jupyter_client interrupts every kernel it shuts down, which the kernel logs as an
    error; a report's output is its notebook, not the terminal)."""
    from jupyter_client.manager import AsyncKernelManager

    log_path = folder / "kernel.log"

    class ReportKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            if os.name != "nt":  # IPC transport is POSIX only
                kwargs.setdefault("transport", "ipc")
                kwargs.setdefault("ip", str(folder / "kernel"))
            super().__init__(**kwargs)

        async def start_kernel(self, **kwargs: Any) -> None:  # type: ignore[override]
            with open(log_path, "ab") as log:
                kwargs.setdefault("stdout", log)
                kwargs.setdefault("stderr", log)
                await super().start_kernel(**kwargs)

    return {"kernel_manager_class": ReportKernelManager}


def _kernel_log(folder: Path, lines: int = 20) -> str:
    try:
        text = (folder / "kernel.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _template_cell(template: Template, executed_index: int) -> int:
    """The template's cell index for a cell of the executed notebook, which has
    papermill's injected-parameters cell right after the parameters cell."""
    nb = json.loads(template.path.read_text())
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.get("cells", [])]
    parameters = next(i for i, t in enumerate(tags) if "parameters" in t)
    return executed_index - 1 if executed_index > parameters + 1 else executed_index


def _keep_failed(executed: Path, out: Path, name: str) -> Path | None:
    if not executed.exists():
        return None
    target = out / f"{name}.failed.ipynb"
    os.replace(executed, target)
    return target


def _publish(
    name: str, staging: Path, files: Path, out: Path
) -> tuple[Path, Path, tuple[Path, ...]]:
    """Move the results into ``out``: attachments, then the notebook, the HTML last."""
    attach_dir = out / f"{name}-attachments"
    if attach_dir.exists():
        shutil.rmtree(attach_dir)
    attachments: tuple[Path, ...] = ()
    if any(files.iterdir()):
        os.replace(files, attach_dir)
        attachments = tuple(sorted(p for p in attach_dir.rglob("*") if p.is_file()))
    nb_path = out / f"{name}.ipynb"
    os.replace(staging / f"{name}.ipynb", nb_path)
    html_path = out / f"{name}.html"
    os.replace(staging / f"{name}.html", html_path)  # the HTML appears last, complete
    (out / f"{name}.failed.ipynb").unlink(missing_ok=True)
    return html_path, nb_path, attachments


def _report_info(nb: dict[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """What the report said about itself in its outputs' ``auditkit`` metadata."""
    info: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("auditkit")
            if isinstance(meta, dict):
                info.update(meta)
    timings = info.pop("timings", {}) or {}
    return info, {str(k): float(v) for k, v in timings.items()}


# -- HTML ------------------------------------------------------------------------------

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block notebook_css -%}
<meta name="generator" content="auditkit">
<style type="text/css">{{ resources.auditkit_css }}</style>
{%- endblock notebook_css -%}
"""


def render_html(nb: dict[str, Any], title: str) -> str:
    """Self-contained HTML of an executed notebook: outputs only, no script, no fetch.

    Code cells are left out, as are cells without outputs and stderr streams (warnings
    belong in the executed notebook, not in a compliance report).
    """
    nbformat = _import("nbformat")
    from auditkit.reports.notebook import STYLE

    node = nbformat.from_dict(copy.deepcopy(dict(nb)))
    node.metadata["title"] = title
    cells = []
    for cell in node.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
            if not cell.outputs:
                continue
        cells.append(cell)
    node.cells = cells
    exporter = _exporter()
    # images a markdown cell links to are embedded as data: URIs (parsing costs ~0.3 s)
    exporter.embed_images = any(
        c.cell_type == "markdown" and ("![" in c.source or "<img" in c.source) for c in cells
    )
    body, _ = exporter.from_notebook_node(node, resources={"auditkit_css": STYLE})
    return str(body)


_EXPORTER: Any = None
_EXPORTER_LOCK = threading.Lock()


def _exporter() -> Any:
    """The HTML exporter with the offline template compiled (built once per process)."""
    global _EXPORTER
    with _EXPORTER_LOCK:
        if _EXPORTER is None:
            _import("nbconvert")
            import jinja2
            from nbconvert import HTMLExporter

            exporter = HTMLExporter(
                template_name="lab",
                extra_loaders=[jinja2.DictLoader({"auditkit_offline.html.j2": _TEMPLATE})],
                template_file="auditkit_offline.html.j2",
                exclude_input=True,
                exclude_input_prompt=True,
                exclude_output_prompt=True,
            )
            # Render a tiny notebook: Jinja compiles the template and everything it
            # includes on first use (~1 s), so it happens here, not in the first report.
            from nbformat import v4

            output = v4.new_output("display_data", {"text/html": "<p>x</p>"})
            tiny = v4.new_notebook(
                cells=[v4.new_markdown_cell("x"), v4.new_code_cell("x", outputs=[output])]
            )
            exporter.from_notebook_node(tiny, resources={"auditkit_css": ""})
            _EXPORTER = exporter
    return _EXPORTER


def _prepare_exporter() -> None:
    """Build the exporter while the kernel runs (this process is idle meanwhile)."""
    with contextlib.suppress(Exception):  # render_html builds it again and reports why
        _exporter()


_FETCHING = [
    re.compile(r"<script[^>]*\ssrc\s*=", re.I),
    re.compile(r"<link[^>]*\shref\s*=\s*[\"']?\s*(?:https?:)?//", re.I),
    re.compile(
        r"<(?:img|iframe|source|video|audio|embed|object)[^>]*\s(?:src|data)\s*=\s*[\"']?\s*(?:https?:)?//",
        re.I,
    ),
    re.compile(r"url\(\s*[\"']?\s*(?:https?:)?//", re.I),
    re.compile(r"@import", re.I),
    re.compile(r"<(?:image|use|feImage)[^>]*\s(?:xlink:)?href\s*=\s*[\"']?\s*(?:https?:)?//", re.I),
]


def check_offline(page: str) -> list[str]:
    """Every reference in ``page`` a browser would fetch (empty for an offline page).

    Flags any ``<script src>``, remote ``<link href>``, remote ``src`` of images and
    media, CSS ``url(//…)``/``url(http…)`` and ``@import``.
    """
    problems = []
    for pattern in _FETCHING:
        for match in pattern.finditer(page):
            problems.append(page[match.start() : match.start() + 120].replace("\n", " "))
    return problems
