"""The operations events record: actor kinds, per-resource operations, error messages."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

# Actor kinds: four human roles, API keys, service account roles, system, anonymous.
_KINDS = ("adm", "eng", "ana", "sci", "api", "etl", "rep", "ml", "bak", "sys", "anl", "anp")
_HUMAN_KINDS = (0, 1, 2, 3)
# Status profiles: P(success, failed, in_progress, pending).
_PROFILES: dict[str, tuple[float, float, float, float]] = {
    "plain": (0.993, 0.007, 0.0, 0.0),
    "run": (0.955, 0.03, 0.01, 0.005),
    "pipeline": (0.885, 0.07, 0.03, 0.015),
    "login": (0.95, 0.05, 0.0, 0.0),
    "export": (0.94, 0.015, 0.02, 0.025),
    "import": (0.90, 0.04, 0.035, 0.025),
    "denied": (0.0, 1.0, 0.0, 0.0),
    "public": (0.97, 0.03, 0.0, 0.0),
    "always": (1.0, 0.0, 0.0, 0.0),
}


@dataclass(frozen=True)
class _Op:
    name: str
    action: str
    weights: dict[str, float]
    status: str
    error: str
    median_ms: float
    sigma: float
    text: str
    label: str
    fail: str
    group: str | None
    attrs: str | None
    perm: str | None
    self_target: bool

    @property
    def rtype(self) -> str:
        return self.name.split(".")[0]


def _op(
    name: str,
    action: str,
    weights: str,
    status: str,
    error: str,
    median_ms: float,
    sigma: float,
    text: str,
    *,
    label: str | None = None,
    fail: str | None = None,
    group: str | None = None,
    attrs: str | None = None,
    perm: str | None = None,
    self_target: bool = False,
) -> _Op:
    parsed = {k: float(v) for k, v in (w.split("=") for w in weights.split())}
    assert set(parsed) <= set(_KINDS), weights
    label = label or text
    return _Op(
        name, action, parsed, status, error, median_ms, sigma, text, label,
        fail or f"{label} failed", group, attrs, perm, self_target,
    )  # fmt: skip


_OPS: tuple[_Op, ...] = (
    # notebooks
    _op("notebook.create", "created", "adm=.2 eng=.5 ana=.5 sci=1.2", "plain", "generic", 450, .5,
        "Notebook created", label="Notebook creation", group="notebook"),
    _op("notebook.update", "updated", "adm=.3 eng=1.5 ana=1.5 sci=4", "plain", "generic", 300, .6,
        "Notebook updated", label="Notebook update", group="notebook"),
    _op("notebook.delete", "deleted", "adm=.05 eng=.1 ana=.12 sci=.25", "plain", "generic", 250,
        .5, "Notebook moved to trash", label="Notebook deletion"),
    _op("notebook.view", "viewed", "adm=1 eng=3 ana=5 sci=8", "plain", "generic", 120, .7,
        "Notebook opened"),
    _op("notebook.run", "executed", "adm=.2 eng=2 ana=3 sci=10 rep=.5 ml=1", "run", "notebook",
        45_000, 1.2, "Ran {cells} cells", label="Notebook run"),
    _op("notebook.run_cancel", "cancelled", "eng=.2 ana=.3 sci=.9", "plain", "generic", 300, .5,
        "Notebook run interrupted after {secs} s", label="Notebook interrupt"),
    _op("notebook.import", "imported", "eng=.05 ana=.1 sci=.3", "import", "io", 2_500, .8,
        "Imported notebook from {nbfile}", label="Notebook import", attrs="file"),
    _op("notebook.export", "exported", "eng=.05 ana=.15 sci=.25", "export", "io", 3_000, .8,
        "Exported notebook as {nbfmt}", label="Notebook export", attrs="file"),
    _op("notebook.kernel_restart", "other", "eng=.05 ana=.1 sci=.3", "plain", "notebook", 4_000,
        .5, "Kernel restarted", label="Kernel restart"),
    # experiments
    _op("experiment.create", "created", "eng=.05 sci=1", "plain", "generic", 400, .5,
        "Experiment created", label="Experiment creation", group="experiment"),
    _op("experiment.update", "updated", "eng=.1 sci=2.2", "plain", "generic", 300, .5,
        "Experiment updated", label="Experiment update", group="experiment"),
    _op("experiment.delete", "deleted", "adm=.02 sci=.15", "plain", "generic", 250, .5,
        "Experiment deleted", label="Experiment deletion"),
    _op("experiment.view", "viewed", "adm=.2 eng=.3 ana=.8 sci=7", "plain", "generic", 180, .7,
        "Experiment runs compared"),
    _op("experiment.run", "executed", "sci=6 api=.5 ml=6", "run", "training", 600_000, 1.0,
        "Training run #{run} finished with {metric}={score}", label="Training run #{run}",
        attrs="training"),
    _op("experiment.cancel_run", "cancelled", "sci=.6 ml=.2", "plain", "generic", 400, .5,
        "Training run #{run} stopped", label="Training run stop"),
    _op("experiment.promote_model", "promoted", "adm=.05 eng=.1 sci=.4 ml=.2", "plain", "generic",
        900, .5, "Model promoted", label="Model promotion", group="promote_model"),
    # pipelines
    _op("pipeline.create", "created", "eng=.8 sci=.05", "plain", "generic", 500, .5,
        "Pipeline created", label="Pipeline creation", group="pipeline"),
    _op("pipeline.update", "updated", "adm=.1 eng=4", "plain", "generic", 350, .5,
        "Pipeline updated", label="Pipeline update", group="pipeline"),
    _op("pipeline.delete", "deleted", "adm=.03 eng=.15", "plain", "generic", 300, .5,
        "Pipeline deleted", label="Pipeline deletion"),
    _op("pipeline.view", "viewed", "adm=.5 eng=8 ana=.6 sci=.4", "plain", "generic", 150, .7,
        "Pipeline run history viewed"),
    _op("pipeline.run", "executed", "ana=.1 eng=5 sci=.3 api=2 etl=12 bak=.5", "pipeline",
        "pipeline", 180_000, 1.1, "Pipeline run #{run} succeeded, processed {rows} rows",
        label="Pipeline run #{run}", fail="Pipeline run #{run} failed at task '{task}'",
        attrs="pipeline"),
    _op("pipeline.cancel", "cancelled", "eng=.8 etl=.2", "plain", "generic", 600, .5,
        "Pipeline run #{run} cancelled", label="Pipeline cancellation"),
    _op("pipeline.promote", "promoted", "adm=.05 eng=.5", "plain", "generic", 1_500, .5,
        "Pipeline promoted", label="Pipeline promotion", group="promote_pipeline"),
    # databases (tables)
    _op("database.create", "created", "adm=.05 eng=.8 ana=.05 sci=.1", "plain", "generic", 700, .5,
        "Table created", label="Table creation", group="database"),
    _op("database.update", "updated", "adm=.3 eng=1.5", "plain", "generic", 600, .5,
        "Table updated", label="Table update", group="database"),
    _op("database.delete", "deleted", "adm=.05 eng=.2", "plain", "generic", 500, .5,
        "Table dropped", label="Table drop"),
    _op("database.view", "viewed", "adm=1 eng=5 ana=4 sci=2", "plain", "generic", 140, .6,
        "Table schema viewed"),
    _op("database.query", "executed", "adm=.5 eng=9 ana=5 sci=4 api=4 etl=4 rep=1 ml=1", "run",
        "query", 1_800, 1.3, "SQL statement returned {rows} rows", label="SQL statement"),
    _op("database.export", "exported", "eng=.4 ana=.3 sci=.2 api=.5 bak=5", "export", "io",
        12_000, 1.2, "Exported {rows} rows to {fmt}", label="Table export", attrs="export"),
    _op("database.import", "imported", "eng=.7 sci=.1 api=.4 etl=1.2", "import", "io", 15_000,
        1.2, "Imported {rows} rows from {file}", label="Table import", attrs="import"),
    _op("database.maintenance", "other", "sys=1", "always", "generic", 90_000, .8,
        "Automatic vacuum reclaimed {mb} MB"),
    # collections
    _op("collection.create", "created", "eng=.2 ana=.2 sci=.3", "plain", "generic", 400, .5,
        "Collection created", label="Collection creation", group="collection"),
    _op("collection.update", "updated", "eng=.3 ana=.4 sci=.5", "plain", "generic", 300, .5,
        "Collection updated", label="Collection update", group="collection"),
    _op("collection.delete", "deleted", "adm=.02 eng=.05 ana=.05 sci=.05", "plain", "generic",
        300, .5, "Collection deleted", label="Collection deletion"),
    _op("collection.view", "viewed", "adm=.2 eng=1 ana=2 sci=3 api=3 ml=1", "plain", "generic",
        110, .7, "Collection browsed"),
    _op("collection.export", "exported", "ana=.3 sci=.3 api=.5 bak=1", "export", "io", 8_000,
        1.2, "Exported {rows} records to {fmt}", label="Collection export", attrs="export"),
    _op("collection.import", "imported", "eng=.2 ana=.3 sci=.6 api=1 etl=.8", "import", "io",
        9_000, 1.2, "Imported {rows} records from {file}", label="Collection import",
        attrs="import"),
    # saved queries
    _op("query.create", "created", "adm=.1 eng=.4 ana=2 sci=.4", "plain", "generic", 300, .5,
        "Query saved", label="Query save", group="query"),
    _op("query.update", "updated", "eng=.5 ana=3 sci=.4", "plain", "generic", 250, .5,
        "Query updated", label="Query update", group="query"),
    _op("query.delete", "deleted", "eng=.05 ana=.3 sci=.05", "plain", "generic", 200, .5,
        "Query deleted", label="Query deletion"),
    _op("query.view", "viewed", "adm=.8 eng=1 ana=8 sci=1", "plain", "generic", 100, .6,
        "Query opened"),
    _op("query.run", "executed", "adm=1 eng=3 ana=14 sci=2 api=6 etl=1 rep=2", "run", "query",
        2_500, 1.4, "Query returned {rows} rows", label="Query run"),
    _op("query.cancel", "cancelled", "eng=.1 ana=.6 sci=.1", "plain", "generic", 200, .5,
        "Query cancelled after {secs} s", label="Query cancellation"),
    _op("query.export_results", "exported", "eng=.2 ana=1.5 sci=.2 api=.3", "export", "io",
        5_000, 1.1, "Exported {rows} rows to {fmt}", label="Query results export",
        attrs="export"),
    # reports
    _op("report.create", "created", "adm=.1 eng=.05 ana=.8", "plain", "generic", 500, .5,
        "Report created", label="Report creation", group="report"),
    _op("report.update", "updated", "adm=.2 eng=.1 ana=2.5", "plain", "generic", 400, .5,
        "Report updated", label="Report update", group="report"),
    _op("report.delete", "deleted", "adm=.05 ana=.15", "plain", "generic", 300, .5,
        "Report deleted", label="Report deletion"),
    _op("report.view", "viewed", "adm=5 eng=2 ana=16 sci=2 api=.3", "plain", "generic", 900, .8,
        "Report viewed"),
    _op("report.view_public", "viewed", "anp=1", "public", "link", 1_100, .8,
        "Report viewed via public link", label="Public link access"),
    _op("report.export", "exported", "adm=.5 ana=1.5 rep=.8", "export", "io", 7_000, 1.0,
        "Exported {rows} rows to {fmt}", label="Report export", attrs="export"),
    _op("report.refresh", "executed", "adm=.1 ana=1 rep=3", "run", "query", 20_000, 1.0,
        "Report refreshed ({widgets} widgets)", label="Report refresh"),
    # users
    _op("user.login", "login", "adm=5 eng=4 ana=5 sci=4", "login", "login", 350, .6,
        "Signed in with {method}", label="Sign-in", attrs="login", self_target=True),
    _op("user.login", "login", "anl=1", "denied", "login", 300, .6, "Sign-in",
        label="Sign-in for unknown account"),
    _op("user.logout", "logout", "adm=3 eng=2 ana=3 sci=2.5", "always", "generic", 80, .5,
        "Signed out", self_target=True),
    _op("user.session_expire", "logout", "sys=2", "always", "generic", 20, .5,
        "Session expired after {hours} h of inactivity"),
    _op("user.create", "created", "adm=1", "plain", "generic", 600, .5, "User invited",
        label="User invitation", group="user"),
    _op("user.update", "updated", "adm=2", "plain", "generic", 350, .5, "User updated",
        label="User update", group="user"),
    _op("user.delete", "deleted", "adm=.4", "plain", "generic", 400, .5, "User deactivated",
        label="User deactivation"),
    _op("user.view", "viewed", "adm=3 eng=.3 ana=.5 sci=.3", "plain", "generic", 90, .5,
        "Profile viewed"),
    _op("user.mfa_enroll", "other", "adm=.05 eng=.05 ana=.05 sci=.05", "plain", "login", 500, .5,
        "Enrolled {mfa} for MFA", label="MFA enrollment", self_target=True),
    _op("user.password_reset", "other", "adm=.03 eng=.05 ana=.06 sci=.05", "plain", "generic",
        300, .5, "Password reset requested", label="Password reset", self_target=True),
    # teams
    _op("team.create", "created", "adm=.3", "plain", "generic", 400, .5, "Team created",
        label="Team creation", group="team"),
    _op("team.update", "updated", "adm=.6", "plain", "generic", 300, .5, "Team updated",
        label="Team update", group="team"),
    _op("team.delete", "deleted", "adm=.08", "plain", "generic", 300, .5, "Team deleted",
        label="Team deletion"),
    _op("team.view", "viewed", "adm=2 eng=.3 ana=.3 sci=.3", "plain", "generic", 90, .5,
        "Team members listed"),
    _op("team.add_member", "updated", "adm=1.5", "plain", "generic", 250, .5, "Member added",
        label="Adding a member", group="team_add"),
    _op("team.remove_member", "updated", "adm=.5", "plain", "generic", 250, .5, "Member removed",
        label="Removing a member", group="team_remove"),
    # permissions
    _op("permission.grant", "shared", "adm=3 eng=.5 ana=.8 sci=.4", "plain", "generic", 200, .5,
        "Access granted", label="Grant", perm="grant"),
    _op("permission.revoke", "revoked", "adm=1 eng=.1 ana=.2 sci=.1", "plain", "generic", 200, .5,
        "Access revoked", label="Revoke", perm="revoke"),
    _op("permission.update", "updated", "adm=.8 eng=.05 ana=.1", "plain", "generic", 200, .5,
        "Role changed", label="Role change", perm="update"),
    _op("permission.view", "viewed", "adm=2 eng=.2 ana=.3 sci=.1", "plain", "generic", 120, .5,
        "Access list viewed", perm="view"),
    _op("permission.expire", "revoked", "sys=1.5", "always", "generic", 50, .5,
        "Temporary access expired", perm="expire"),
)  # fmt: skip
_PERM_TEXTS = ("grant", "revoke", "update", "view", "expire")


_ERROR_CLASSES = ("pipeline", "query", "notebook", "training", "login", "io", "generic", "link")


def _error_pools(rng: random.Random, tables: Sequence[str]) -> dict[str, list[str]]:
    """Realistic error messages by class (a few dozen each, some with varying details)."""
    some = [rng.choice(tables) for _ in range(8)] if tables else ["sales.orders"] * 8
    tasks = ("extract", "load_orders", "transform_customers", "dedupe_events", "publish")
    return {
        "pipeline": [
            "OutOfMemoryError: Java heap space",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
            "Task exceeded max retries (3)",
            "PermissionDenied: user lacks SELECT on table sales.orders",
            *(f"PermissionDenied: user lacks SELECT on table {t}" for t in some[:4]),
            *(f"Task '{t}' exceeded max retries ({r})" for t in tasks for r in (3, 5)),
            "SparkException: Job aborted due to stage failure: Task 4 in stage 12.0 failed 4 "
            "times, most recent failure: ExecutorLostFailure (executor 7 exited)",
            *(
                f"FileNotFoundError: s3://acme-datalake/raw/events/dt=2026-10-{d:02d}/"
                "part-00007.snappy.parquet"
                for d in (3, 14, 27)
            ),
            "SchemaMismatchError: column 'amount' expected DECIMAL(18,2), got STRING",
            "Upstream dependency 'orders_ingest_hourly' did not complete",
            "Container killed: exit code 137 (OOMKilled)",
            "OperationalError: server closed the connection unexpectedly",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
            "OutOfMemoryError: Java heap space",
        ],
        "query": [
            "SyntaxError: unexpected token 'FORM' at line 3, column 8",
            "QueryTimeout: query exceeded the 300 s limit",
            "ResourceExhausted: query memory limit of 8 GB exceeded",
            "Division by zero",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
            *(f"PermissionDenied: user lacks SELECT on table {t}" for t in some),
            *(f"Table not found: {t}_old" for t in some[:4]),
            "Ambiguous column name 'id'",
        ],
        "notebook": [
            "KernelDied: kernel restarted after exceeding its memory limit (16 GiB)",
            "ModuleNotFoundError: No module named 'lightgbm'",
            "CellExecutionError: NameError: name 'df_clean' is not defined (cell 14)",
            "Execution timed out after 3600 s",
            "CellExecutionError: KeyError: 'customer_id' (cell 7)",
        ],
        "training": [
            "CUDA out of memory. Tried to allocate 2.00 GiB",
            "ValueError: Input contains NaN, infinity or a value too large for dtype('float32')",
            "Training job exceeded max runtime (4 h)",
            "OutOfMemoryError: Java heap space",
            "Spot instance interrupted; checkpoint restore failed",
        ],
        "login": [
            "Invalid username or password",
            "Invalid username or password",
            "MFA verification failed",
            "Account locked after 5 failed attempts",
            "SSO assertion expired",
            "IP address not in allow list",
        ],
        "io": [
            "Export exceeds row limit of 1,000,000 rows",
            "Upload failed: object store returned 503 Slow Down",
            "Invalid CSV: unterminated quoted field at line 4821",
            "AccessDenied: destination s3://acme-exports is not writable (403)",
            "File too large: 5.2 GB exceeds the 5 GB limit",
            "Connection timed out after 30000 ms to warehouse.internal:5432",
        ],
        "generic": [
            "PermissionDenied: user lacks EDIT permission on this resource",
            "Conflict: resource was modified by another session (version 7, expected 6)",
            "ValidationError: name must be 1-128 characters",
            "RateLimitExceeded: 600 requests per minute",
            "NotFound: resource does not exist or was deleted",
            "InternalError: unexpected error, reference 8f3a2c1d",
        ],
        "link": [
            "Public link expired",
            "Public link revoked by owner",
            "Invalid or expired share token",
        ],
    }
