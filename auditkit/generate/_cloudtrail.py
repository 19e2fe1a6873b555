"""Writing events as AWS CloudTrail records."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from auditkit.generate._columns import _hex, _strings
from auditkit.generate._plan import _mix
from auditkit.generate._writers import _slices

_CT_REGIONS = ("us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-southeast-1")
_SM = "sagemaker.amazonaws.com"
_NB = '{"notebookInstanceName": "{slug}"}'
_BUCKET = '"bucketName": "{acct}-{slug}", "Host": "{acct}-{slug}.s3.{region}.amazonaws.com"'
_GLUE_TABLE = '{"databaseName": "analytics", "name": "{name}"}'
_NQ = '{"namedQueryId": "{uuid}"}'
_QS = '{"awsAccountId": "{acct}", "dashboardId": "{slug}"}'
_RS = '{"workgroupName": "analytics", "database": "dev", "sql": "HIDDEN_DUE_TO_SECURITY_REASONS"}'
_RS_OUT = '{"id": "{uuid}", "workgroupName": "analytics", "database": "dev"}'
_POLICY = '"policyArn": "arn:aws:iam::{acct}:policy/dataplatform/{slug}"'
# operation → (eventSource, eventName, requestParameters, responseElements); JSON with tokens
_CT_OPS: dict[str, tuple[str, str, str, str]] = {
    "notebook.create": (_SM, "CreateNotebookInstance",
        '{"notebookInstanceName": "{slug}", "instanceType": "ml.t3.medium", "roleArn": '
        '"arn:aws:iam::{acct}:role/service-role/SageMakerExecutionRole"}',
        '{"notebookInstanceArn": "arn:aws:sagemaker:{region}:{acct}:notebook-instance/{slug}"}'),
    "notebook.update": (_SM, "UpdateNotebookInstance",
        '{"notebookInstanceName": "{slug}", "instanceType": "ml.t3.large"}', "null"),
    "notebook.delete": (_SM, "DeleteNotebookInstance", _NB, "null"),
    "notebook.view": (_SM, "DescribeNotebookInstance", _NB, "null"),
    "notebook.run": (_SM, "StartNotebookInstance", _NB, "null"),
    "notebook.run_cancel": (_SM, "StopNotebookInstance", _NB, "null"),
    "notebook.kernel_restart": (_SM, "StopNotebookInstance", _NB, "null"),
    "notebook.import": ("s3.amazonaws.com", "PutObject",
        "{" + _BUCKET + ', "key": "imports/{xid}.ipynb"}', "null"),
    "notebook.export": ("s3.amazonaws.com", "GetObject",
        "{" + _BUCKET + ', "key": "exports/{xid}.html"}', "null"),
    "experiment.create": (_SM, "CreateExperiment", '{"experimentName": "{slug}"}',
        '{"experimentArn": "arn:aws:sagemaker:{region}:{acct}:experiment/{slug}"}'),
    "experiment.update": (_SM, "UpdateExperiment", '{"experimentName": "{slug}"}',
        '{"experimentArn": "arn:aws:sagemaker:{region}:{acct}:experiment/{slug}"}'),
    "experiment.delete": (_SM, "DeleteExperiment", '{"experimentName": "{slug}"}', "null"),
    "experiment.view": (_SM, "DescribeExperiment", '{"experimentName": "{slug}"}', "null"),
    "experiment.run": (_SM, "CreateTrainingJob",
        '{"trainingJobName": "{slug}-{xid}", "resourceConfig": {"instanceType": '
        '"ml.m5.2xlarge", "instanceCount": 1, "volumeSizeInGB": 30}, "roleArn": '
        '"arn:aws:iam::{acct}:role/service-role/SageMakerExecutionRole"}',
        '{"trainingJobArn": "arn:aws:sagemaker:{region}:{acct}:training-job/{slug}-{xid}"}'),
    "experiment.cancel_run": (_SM, "StopTrainingJob", '{"trainingJobName": "{slug}-{xid}"}',
        "null"),
    "experiment.promote_model": (_SM, "UpdateModelPackage",
        '{"modelPackageArn": "arn:aws:sagemaker:{region}:{acct}:model-package/{slug}/1", '
        '"modelApprovalStatus": "Approved"}',
        '{"modelPackageArn": "arn:aws:sagemaker:{region}:{acct}:model-package/{slug}/1"}'),
    "pipeline.create": ("glue.amazonaws.com", "CreateJob",
        '{"name": "{slug}", "role": "arn:aws:iam::{acct}:role/GlueJobRole", "command": '
        '{"name": "glueetl", "scriptLocation": "s3://{acct}-glue-scripts/{slug}.py"}}',
        '{"name": "{slug}"}'),
    "pipeline.update": ("glue.amazonaws.com", "UpdateJob", '{"jobName": "{slug}"}',
        '{"jobName": "{slug}"}'),
    "pipeline.delete": ("glue.amazonaws.com", "DeleteJob", '{"jobName": "{slug}"}',
        '{"jobName": "{slug}"}'),
    "pipeline.view": ("glue.amazonaws.com", "GetJobRuns",
        '{"jobName": "{slug}", "maxResults": 25}', "null"),
    "pipeline.run": ("glue.amazonaws.com", "StartJobRun", '{"jobName": "{slug}"}',
        '{"jobRunId": "jr_{xid}"}'),
    "pipeline.cancel": ("glue.amazonaws.com", "BatchStopJobRun",
        '{"jobName": "{slug}", "jobRunIds": ["jr_{xid}"]}',
        '{"successfulSubmissions": [{"jobName": "{slug}", "jobRunId": "jr_{xid}"}], '
        '"errors": []}'),
    "pipeline.promote": ("codepipeline.amazonaws.com", "StartPipelineExecution",
        '{"name": "{slug}-promote-prod"}', '{"pipelineExecutionId": "{uuid}"}'),
    "database.create": ("glue.amazonaws.com", "CreateTable",
        '{"databaseName": "analytics", "tableInput": {"name": "{name}"}}', "null"),
    "database.update": ("glue.amazonaws.com", "UpdateTable",
        '{"databaseName": "analytics", "tableInput": {"name": "{name}"}}', "null"),
    "database.delete": ("glue.amazonaws.com", "DeleteTable", _GLUE_TABLE, "null"),
    "database.view": ("glue.amazonaws.com", "GetTable", _GLUE_TABLE, "null"),
    "database.query": ("redshift-data.amazonaws.com", "ExecuteStatement", _RS, _RS_OUT),
    "database.export": ("redshift-data.amazonaws.com", "ExecuteStatement", _RS, _RS_OUT),
    "database.import": ("redshift-data.amazonaws.com", "BatchExecuteStatement", _RS, _RS_OUT),
    "database.maintenance": ("redshift-data.amazonaws.com", "ExecuteStatement", _RS, _RS_OUT),
    "collection.create": ("s3.amazonaws.com", "CreateBucket", "{" + _BUCKET + "}", "null"),
    "collection.update": ("s3.amazonaws.com", "PutBucketTagging",
        "{" + _BUCKET + ', "tagging": ""}', "null"),
    "collection.delete": ("s3.amazonaws.com", "DeleteBucket", "{" + _BUCKET + "}", "null"),
    "collection.view": ("s3.amazonaws.com", "ListObjects",
        "{" + _BUCKET + ', "list-type": "2", "prefix": ""}', "null"),
    "collection.export": ("s3.amazonaws.com", "GetObject",
        "{" + _BUCKET + ', "key": "exports/{xid}.csv"}', "null"),
    "collection.import": ("s3.amazonaws.com", "PutObject",
        "{" + _BUCKET + ', "key": "uploads/{xid}.json"}', "null"),
    "query.create": ("athena.amazonaws.com", "CreateNamedQuery",
        '{"name": "{name}", "database": "analytics", "workGroup": "primary"}',
        '{"namedQueryId": "{uuid}"}'),
    "query.update": ("athena.amazonaws.com", "UpdateNamedQuery",
        '{"namedQueryId": "{uuid}", "name": "{name}"}', "null"),
    "query.delete": ("athena.amazonaws.com", "DeleteNamedQuery", _NQ, "null"),
    "query.view": ("athena.amazonaws.com", "GetNamedQuery", _NQ, "null"),
    "query.run": ("athena.amazonaws.com", "StartQueryExecution",
        '{"queryExecutionContext": {"database": "analytics"}, "workGroup": "primary", '
        '"clientRequestToken": "{uuid}"}', '{"queryExecutionId": "{uuid}"}'),
    "query.cancel": ("athena.amazonaws.com", "StopQueryExecution",
        '{"queryExecutionId": "{uuid}"}', "null"),
    "query.export_results": ("athena.amazonaws.com", "GetQueryResults",
        '{"queryExecutionId": "{uuid}", "maxResults": 1000}', "null"),
    "report.create": ("quicksight.amazonaws.com", "CreateDashboard",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "name": "{name}"}',
        '{"arn": "arn:aws:quicksight:{region}:{acct}:dashboard/{slug}", "dashboardId": '
        '"{slug}", "status": 202}'),
    "report.update": ("quicksight.amazonaws.com", "UpdateDashboard",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "name": "{name}"}',
        '{"dashboardId": "{slug}", "status": 202}'),
    "report.delete": ("quicksight.amazonaws.com", "DeleteDashboard", _QS,
        '{"dashboardId": "{slug}", "status": 200}'),
    "report.view": ("quicksight.amazonaws.com", "GetDashboardEmbedUrl",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "identityType": "IAM"}', "null"),
    "report.view_public": ("quicksight.amazonaws.com", "GetDashboardEmbedUrl",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "identityType": "ANONYMOUS"}',
        "null"),
    "report.export": ("quicksight.amazonaws.com", "StartDashboardSnapshotJob",
        '{"awsAccountId": "{acct}", "dashboardId": "{slug}", "snapshotJobId": "{xid}"}',
        '{"snapshotJobId": "{xid}", "status": 202}'),
    "report.refresh": ("quicksight.amazonaws.com", "CreateIngestion",
        '{"awsAccountId": "{acct}", "dataSetId": "{slug}", "ingestionId": "{xid}"}',
        '{"ingestionId": "{xid}", "ingestionStatus": "INITIALIZED"}'),
    "user.login": ("signin.amazonaws.com", "ConsoleLogin", "null",
        '{"ConsoleLogin": "{login}"}'),
    "user.logout": ("portal.sso.amazonaws.com", "Logout", "null", "null"),
    "user.session_expire": ("portal.sso.amazonaws.com", "Logout", "null", "null"),
    "user.create": ("iam.amazonaws.com", "CreateUser", '{"userName": "{name}"}',
        '{"user": {"path": "/", "userName": "{name}", "arn": '
        '"arn:aws:iam::{acct}:user/{name}"}}'),
    "user.update": ("iam.amazonaws.com", "UpdateUser", '{"userName": "{name}"}', "null"),
    "user.delete": ("iam.amazonaws.com", "DeleteUser", '{"userName": "{name}"}', "null"),
    "user.view": ("iam.amazonaws.com", "GetUser", '{"userName": "{name}"}', "null"),
    "user.mfa_enroll": ("iam.amazonaws.com", "EnableMFADevice",
        '{"userName": "{name}", "serialNumber": "arn:aws:iam::{acct}:mfa/{slug}"}', "null"),
    "user.password_reset": ("iam.amazonaws.com", "UpdateLoginProfile",
        '{"userName": "{name}", "passwordResetRequired": true}', "null"),
    "team.create": ("iam.amazonaws.com", "CreateGroup", '{"groupName": "{slug}"}',
        '{"group": {"path": "/", "groupName": "{slug}", "arn": '
        '"arn:aws:iam::{acct}:group/{slug}"}}'),
    "team.update": ("iam.amazonaws.com", "UpdateGroup", '{"groupName": "{slug}"}', "null"),
    "team.delete": ("iam.amazonaws.com", "DeleteGroup", '{"groupName": "{slug}"}', "null"),
    "team.view": ("iam.amazonaws.com", "GetGroup", '{"groupName": "{slug}"}', "null"),
    "team.add_member": ("iam.amazonaws.com", "AddUserToGroup", '{"groupName": "{slug}"}',
        "null"),
    "team.remove_member": ("iam.amazonaws.com", "RemoveUserFromGroup",
        '{"groupName": "{slug}"}', "null"),
    "permission.grant": ("iam.amazonaws.com", "AttachUserPolicy",
        '{"userName": "{grantee}", ' + _POLICY + "}", "null"),
    "permission.revoke": ("iam.amazonaws.com", "DetachUserPolicy",
        '{"userName": "{grantee}", ' + _POLICY + "}", "null"),
    "permission.expire": ("iam.amazonaws.com", "DetachUserPolicy",
        '{"userName": "{grantee}", ' + _POLICY + "}", "null"),
    "permission.update": ("iam.amazonaws.com", "CreatePolicyVersion",
        "{" + _POLICY + ', "setAsDefault": true}',
        '{"policyVersion": {"versionId": "v2", "isDefaultVersion": true}}'),
    "permission.view": ("iam.amazonaws.com", "ListAttachedUserPolicies",
        '{"userName": "{grantee}"}', "null"),
}  # fmt: skip
_CT_FALLBACK = (
    "dataplatform.amazonaws.com",
    "{op}",
    '{"resourceType": "{type}", "resourceId": "{id}", "resourceName": "{name}"}',
    "null",
)
_CT_TOKENS = ("slug", "name", "id", "acct", "region", "login", "xid", "uuid", "grantee", "type")
_CT_TOKEN = re.compile(r"\{(" + "|".join(_CT_TOKENS) + r")\}")
_READ_PREFIXES = ("Get", "Describe", "List", "Head")
_ERROR_CODES = (
    ("(?i)denied|lacks|forbidden|403", "AccessDenied"),
    ("(?i)rate ?limit|throttl", "ThrottlingException"),
    ("(?i)not found|notfound|does not exist", "ResourceNotFoundException"),
    ("(?i)conflict|modified by another", "ConflictException"),
    ("(?i)timed out|timeout|exceeded", "LimitExceededException"),
    ("(?i)invalid|syntax|validation|mismatch|ambiguous", "ValidationException"),
    ("(?i)503|unavailable|slow down", "ServiceUnavailableException"),
)
_BOTO_UA = (
    "Boto3/1.35.36 md/Botocore#1.35.36 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.9 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.36"
)


@lru_cache(maxsize=1 << 16)
def _account_id(account: str | None) -> str:
    digest = hashlib.blake2b((account or "").encode(), digest_size=8).digest()
    return f"{int.from_bytes(digest, 'big') % 10**12:012d}"


def _short_hash(text: str, n: int, alphabet: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") -> str:
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    value = int.from_bytes(digest, "big")
    out = []
    for _ in range(n):
        value, r = divmod(value, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


@lru_cache(maxsize=1 << 16)
def _identity(actor: str | None, actor_type: str | None, account: str | None, root: bool) -> str:
    """The ``userIdentity`` object of one (actor, type, account) as JSON text."""
    acct = _account_id(account)
    actor = actor or "unknown"
    key = f"{actor}|{account}"
    if root:
        ident: dict[str, Any] = {"type": "Root", "principalId": acct,
                                 "arn": f"arn:aws:iam::{acct}:root", "accountId": acct,
                                 "accessKeyId": "ASIA" + _short_hash(key + "root", 16)}  # fmt: skip
    elif actor_type == "user" and int(_short_hash(key, 1, "0123456789")) < 6:
        role = f"AWSReservedSSO_DataPlatformUser_{_short_hash(acct, 16, '0123456789abcdef')}"
        role_id = "AROA" + _short_hash(role, 17)
        ident = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{actor}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{actor}",
            "accountId": acct,
            "accessKeyId": "ASIA" + _short_hash(key, 16),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role_id,
                    "arn": f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{role}",
                    "accountId": acct,
                    "userName": role,
                },
                "attributes": {"mfaAuthenticated": "true"},
            },
        }
    elif actor_type in ("user", "api_key"):
        name = actor.split("@")[0] if actor_type == "user" else f"api-{actor[-12:]}"
        ident = {"type": "IAMUser", "principalId": "AIDA" + _short_hash(key, 17),
                 "arn": f"arn:aws:iam::{acct}:user/{name}", "accountId": acct,
                 "accessKeyId": "AKIA" + _short_hash(key + "k", 16), "userName": name}  # fmt: skip
    elif actor_type == "service_account":
        role = actor.split("@")[0]
        role_id = "AROA" + _short_hash(role, 17)
        session = f"botocore-session-{_short_hash(key, 10, '0123456789')}"
        ident = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}",
            "accountId": acct,
            "accessKeyId": "ASIA" + _short_hash(key, 16),
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": role_id,
                                  "arn": f"arn:aws:iam::{acct}:role/{role}", "accountId": acct,
                                  "userName": role},
                "attributes": {"mfaAuthenticated": "false"},
            },
        }  # fmt: skip
    elif actor_type == "anonymous" and actor == "anonymous":
        ident = {"type": "AWSAccount", "principalId": "", "accountId": "ANONYMOUS_PRINCIPAL"}
    elif actor_type == "anonymous":
        ident = {"type": "IAMUser", "accountId": acct, "accessKeyId": "",
                 "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}  # fmt: skip
    else:
        ident = {"type": "AWSService"}  # invokedBy is the event's source, set per event
    return json.dumps(ident)


def _json_text(expr: pl.Expr) -> pl.Expr:
    """A non-null string expression escaped for use inside a JSON string literal."""
    encoded = pl.struct(expr.alias("v")).struct.json_encode()
    return encoded.str.strip_prefix('{"v":"').str.strip_suffix('"}')


def _segments(template: str) -> tuple[list[str], list[int]]:
    """A template's literal pieces and, between them, the index of each token."""
    parts = _CT_TOKEN.split(template)
    return parts[0::2], [_CT_TOKENS.index(t) for t in parts[1::2]]


def _fill(templates: list[str], which: np.ndarray, tokens: pl.DataFrame) -> pl.Series:
    """Row ``i`` gets ``templates[which[i]]`` with its tokens replaced by row ``i``'s values.

    Tokens are replaced by gathering from all token columns stacked end to end, one
    gather per token slot, so the cost does not grow with the number of templates.
    """
    rows = tokens.height
    split = [_segments(t) for t in templates]
    slots = max(len(codes) for _, codes in split)
    literals = np.array([lits + [""] * (slots - len(codes)) for lits, codes in split])
    codes = np.array([codes + [-1] * (slots - len(codes)) for _, codes in split], dtype=np.int64)
    stacked = pl.concat([tokens.get_column(f"_t_{t}") for t in _CT_TOKENS] + [pl.Series([""])])
    row = np.arange(rows, dtype=np.int64)
    parts: list[pl.Series] = []
    for k in range(slots + 1):
        parts.append(pl.Series(literals[:, k]).gather(which))
        if k < slots:
            code = codes[which, k]
            parts.append(stacked.gather(np.where(code < 0, len(stacked) - 1, code * rows + row)))
    return pl.select(pl.concat_str(parts)).to_series()


def _id_bits(ids: pl.Series, prefix: str, salt: int) -> np.ndarray:
    """64 bits per id: the generator's hex digits when they are there, else a hash."""
    digits = ids.str.strip_prefix(prefix).str.slice(0, 15).str.to_integer(base=16, strict=False)
    hashed = ids.hash(salt).to_numpy()
    bits = digits.fill_null(-1).to_numpy().astype(np.int64)
    return np.where(bits >= 0, bits.astype(np.uint64), hashed).astype(np.uint64)


def _uuids(bits: np.ndarray) -> pl.Series:
    """Version-4-looking UUIDs drawn from 64 bits each (scrambled)."""
    hi = _hex(_mix(bits ^ np.uint64(0x1D1D1D1D)), 16)
    lo = _hex(_mix(bits ^ np.uint64(0x2E2E2E2E)), 16)
    return _strings(
        [hi[:, :8], b"-", hi[:, 8:12], b"-4", hi[:, 13:16], b"-a", lo[:, :3], b"-", lo[:, 4:16]],
        len(bits),
    )


def _cloudtrail_lines(frame: pl.DataFrame) -> pl.Series:
    """One CloudTrail record (JSON text) per event."""
    ops = [op for op in frame.get_column("operation").unique().to_list() if op is not None]
    mapping = {op: _CT_OPS.get(op, _CT_FALLBACK) for op in ops}
    op_index = {op: i for i, op in enumerate(ops)}
    which = (
        frame.get_column("operation")
        .replace_strict(op_index, default=len(ops), return_dtype=pl.Int64)
        .to_numpy()
    )

    def lookup(i: int) -> pl.Expr:
        table = {op: mapping[op][i].replace("{op}", op) for op in ops}
        return pl.col("operation").replace_strict(
            table, default=pl.lit(_CT_FALLBACK[i]), return_dtype=pl.String
        )

    root = (
        (pl.col("actor_type") == "user")
        & pl.col("resource_type").is_in(["user", "team", "permission"])
        & ~pl.col("action").is_in(["viewed", "login", "logout", "other"])
        & pl.col("event_id").str.slice(-1).is_in(["0", "7"])
    )
    keyed = frame.with_columns(_root=root)
    idents = keyed.select("actor", "actor_type", "account", "_root").unique()
    accounts = idents.get_column("account").to_list()
    id_table = idents.with_columns(
        _identity=pl.Series(
            [
                _identity(a, str(t) if t is not None else None, c, bool(r))
                for a, t, c, r in idents.iter_rows()
            ],
            dtype=pl.String,
        ),
        _acct=pl.Series([_account_id(c) for c in accounts], dtype=pl.String),
        _region=pl.Series(
            [_CT_REGIONS[int(_account_id(c)) % len(_CT_REGIONS)] for c in accounts],
            dtype=pl.String,
        ),
    )
    uas = frame.get_column("user_agent").drop_nulls().unique().to_list()
    ua_map = {ua: json.dumps(ua if ua.startswith("Mozilla/") else _BOTO_UA)[1:-1] for ua in uas}

    work = keyed.join(
        id_table, on=["actor", "actor_type", "account", "_root"], how="left",
        nulls_equal=True, maintain_order="left",
    ).with_columns(_src=lookup(0), _name=lookup(1))  # fmt: skip
    work = work.with_columns(
        _ev=_uuids(_id_bits(work.get_column("event_id"), "evt_", 0xE7)),
        _rq=_uuids(_id_bits(work.get_column("request_id"), "req_", 0x5E)),
    )
    # name-derived tokens, once per distinct (type, name) rather than once per event
    work = work.with_columns(_rname=pl.coalesce("resource_name", "resource_id", pl.lit("")))
    names = work.select("resource_type", "_rname").unique()
    # a permission is named "target (grantee)": its policy is named after the target
    target = (
        pl.when(pl.col("resource_type") == "permission")
        .then(pl.col("_rname").str.replace(r" \([^()]*\)$", ""))
        .otherwise(pl.col("_rname"))
    )
    slug = target.str.to_lowercase().str.replace_all("[^a-z0-9]+", "-").str.strip_chars("-")
    grantee = pl.col("_rname").str.extract(r"\(([^()]*)\)$")
    names = names.with_columns(
        _t_slug=pl.when(slug == "").then(pl.lit("resource")).otherwise(slug),
        _t_name=_json_text(pl.col("_rname")),
        _t_grantee=_json_text(pl.coalesce(grantee, pl.lit("unknown"))),
        _t_type=_json_text(pl.coalesce("resource_type", pl.lit(""))),
    )
    work = work.join(
        names, on=["resource_type", "_rname"], how="left", nulls_equal=True, maintain_order="left"
    )
    alt_region = pl.col("_ev").str.slice(1, 1).is_in(["0", "1"])
    values = {
        "id": _json_text(pl.coalesce("resource_id", pl.lit(""))),
        "acct": pl.col("_acct"),
        "region": pl.when(alt_region).then(pl.lit("us-west-2")).otherwise(pl.col("_region")),
        "login": pl.when(pl.col("status") == "failed")
        .then(pl.lit("Failure"))
        .otherwise(pl.lit("Success")),
        "xid": pl.col("_rq").str.slice(0, 8),
        "uuid": pl.col("_rq"),
    }
    work = work.with_columns(**{f"_t_{token}": value for token, value in values.items()})
    fallback = len(ops)
    work = work.with_columns(
        _req=_fill([mapping[op][2] for op in ops] + [_CT_FALLBACK[2]], which, work),
        _resp=_fill([mapping[op][3] for op in ops] + [_CT_FALLBACK[3]], which, work),
    )
    assert fallback == len(ops)

    is_system = pl.col("actor_type") == "system"
    service_ip = (pl.col("actor_type") == "service_account") & pl.col("_ev").str.slice(2, 1).is_in(
        ["0", "1", "2", "3", "4"]
    )
    source_ip = (
        pl.when(is_system | service_ip)
        .then(pl.col("_src"))
        .otherwise(pl.coalesce(pl.col("ip_address"), pl.lit("AWS Internal")))
    )
    agent = (
        pl.when(is_system)
        .then(pl.col("_src"))
        .otherwise(
            pl.col("user_agent").replace_strict(
                ua_map, default=pl.lit("AWS Internal"), return_dtype=pl.String
            )
        )
    )
    failed = pl.col("status") == "failed"
    console = pl.col("_name") == "ConsoleLogin"
    code = pl.lit(None, dtype=pl.String)
    for pattern, name in reversed(_ERROR_CODES):
        code = (
            pl.when(pl.col("error_message").str.contains(pattern))
            .then(pl.lit(name))
            .otherwise(code)
        )
    code = pl.coalesce(code, pl.lit("InternalFailure"))
    message = _json_text(pl.coalesce("error_message", pl.lit("Failed authentication")))
    error = (
        pl.when(failed & console)
        .then(pl.lit(',"errorMessage":"Failed authentication"'))
        .when(failed)
        .then(
            pl.concat_str(
                pl.lit(',"errorCode":"'), code, pl.lit('","errorMessage":"'), message, pl.lit('"')
            )
        )
        .otherwise(pl.lit(""))
    )
    read_only = pl.col("_name").str.starts_with(_READ_PREFIXES[0])
    for prefix in _READ_PREFIXES[1:]:
        read_only = read_only | pl.col("_name").str.starts_with(prefix)
    data_event = pl.col("_name").is_in(["GetObject", "PutObject", "ListObjects"])
    event_type = (
        pl.when(console)
        .then(pl.lit("AwsConsoleSignIn"))
        .when(is_system)
        .then(pl.lit("AwsServiceEvent"))
        .otherwise(pl.lit("AwsApiCall"))
    )
    extra = pl.when(console).then(
        pl.lit(
            ',"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home",'
            '"MobileVersion":"No","MFAUsed":"Yes"}'
        )
    )
    work = work.with_columns(
        _j_identity=pl.when(is_system)
        .then(pl.concat_str(pl.lit('{"type":"AWSService","invokedBy":"'), "_src", pl.lit('"}')))
        .otherwise("_identity"),
        _j_time=pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        _j_ip=_json_text(source_ip),
        _j_agent=agent,
        _j_error=error,
        _j_resp=pl.when(failed & ~console).then(pl.lit("null")).otherwise("_resp"),
        _j_extra=pl.coalesce(extra, pl.lit("")),
        _j_read=pl.when(read_only).then(pl.lit("true")).otherwise(pl.lit("false")),
        _j_type=event_type,
        _j_data=data_event,
    )
    data = pl.col("_j_data")
    line = pl.concat_str(
        pl.lit('{"eventVersion":"1.09","userIdentity":'),
        "_j_identity",
        pl.lit(',"eventTime":"'),
        "_j_time",
        pl.lit('","eventSource":"'),
        "_src",
        pl.lit('","eventName":"'),
        "_name",
        pl.lit('","awsRegion":"'),
        "_t_region",
        pl.lit('","sourceIPAddress":"'),
        "_j_ip",
        pl.lit('","userAgent":"'),
        "_j_agent",
        pl.lit('"'),
        "_j_error",
        pl.lit(',"requestParameters":'),
        "_req",
        pl.lit(',"responseElements":'),
        "_j_resp",
        "_j_extra",
        pl.lit(',"requestID":"'),
        "_rq",
        pl.lit('","eventID":"'),
        "_ev",
        pl.lit('","readOnly":'),
        "_j_read",
        pl.lit(',"eventType":"'),
        "_j_type",
        pl.lit('","managementEvent":'),
        pl.when(data).then(pl.lit("false")).otherwise(pl.lit("true")),
        pl.lit(',"recipientAccountId":"'),
        "_acct",
        pl.lit('","eventCategory":"'),
        pl.when(data).then(pl.lit("Data")).otherwise(pl.lit("Management")),
        pl.lit('"}'),
    )
    return work.select(line.alias("line")).get_column("line")


def _write_cloudtrail(batches: Iterable[pl.DataFrame], fh: Any) -> None:
    for part in _slices(batches):
        lines = _cloudtrail_lines(part)
        pl.DataFrame({"line": lines}).write_csv(fh, include_header=False, quote_style="never")
