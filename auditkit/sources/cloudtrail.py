"""AWS CloudTrail adapter: CloudTrail records in every shape people have them, as canonical events.

Accepted inputs (plain or gzip):

* S3 delivery files, ``{"Records": [...]}`` — what CloudTrail writes as ``*.json.gz`` — on
  one line, pretty-printed, or several of them concatenated;
* JSON Lines, one record per line (Logstash exports with ``@timestamp``/``@version`` too);
* a JSON array of records;
* ``aws cloudtrail lookup-events`` output, ``{"Events": [...]}`` or one event per line, where
  each event carries the record as a JSON *string* in ``CloudTrailEvent``.

CloudTrail digest files (integrity hashes of log files) are not events: they are skipped with
a note. Everything else that is not a CloudTrail record is rejected with a reason. The field
mapping is documented in ``docs/sources-cloudtrail.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditkit.schema import IPV4_OCTET
from auditkit.sources import (
    GZIP_ERRORS,
    HEAD_BYTES,
    MAX_RAW,
    Batch,
    RecordError,
    Rejects,
    fast_json,
    guard,
    ip_or_none,
    iter_json_lines,
    map_records,
    open_binary,
    to_json,
)

__all__ = ["SOURCE", "CloudTrailSource", "action_for"]

_Record = tuple[int | None, bytes | str, Any]
_Walk = Generator[_Record, None, int]

# ---------------------------------------------------------------------------
# Detection

_SNIFF_EVENT = re.compile(rb'"eventSource"\s*:\s*"[A-Za-z0-9.-]+\.amazonaws\.com"', re.IGNORECASE)
_SNIFF_VERSION = re.compile(rb'"eventVersion"\s*:\s*"1\.\d+"', re.IGNORECASE)
_SNIFF_TIME = re.compile(rb'"eventTime"\s*:', re.IGNORECASE)
_SNIFF_LOOKUP = re.compile(rb'"CloudTrailEvent"\s*:')
_SNIFF_DIGEST = re.compile(rb'"digestStartTime"\s*:')
_SNIFF_EMPTY = re.compile(rb'\A\{\s*"Records"\s*:\s*\[\s*\]\s*\}\s*\Z')
# A document whose first key is the Records/Events list: walked as one document.
_CONTAINER_START = re.compile(rb'\A\{\s*"(?:Records|Events)"\s*:')
_LEADING = b"\xef\xbb\xbf \t\r\n"

# ---------------------------------------------------------------------------
# eventName → normalized action


def _table(text: str) -> dict[str, str]:
    """``{name: action}`` from lines of ``action: name name …`` (``#`` starts a comment)."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        action, _, names = line.partition("#")[0].partition(":")
        for name in names.split():
            table[name] = action.strip()
    return table


#: Exact names, looked up first as ``service:eventName`` and then as ``eventName``.
_EXACT_ACTIONS = _table(
    """
    login: ConsoleLogin AssumeRole AssumeRoleWithSAML AssumeRoleWithWebIdentity AssumeRoot
    login: GetSessionToken GetFederationToken GetSigninToken GetRoleCredentials SwitchRole
    login: UserAuthentication CredentialChallenge CredentialVerification CheckMfa Federate
    login: ExternalIdPDirectoryLogin Authenticate sso-oidc:CreateToken
    logout: Logout SignOut
    viewed: s3:GetObject s3:CopyObject       # reading data out of S3 (a copy reads the source)
    created: s3:PutObject dynamodb:PutItem ecr:PutImage
    exported: CreateExportTask StartExportTask CreateInstanceExportTask CreateSnapshotExportTask
    shared: PutBucketAcl PutBucketPolicy PutObjectAcl PutKeyPolicy PutResourcePolicy
    shared: SetRepositoryPolicy CreateGrant AddPermission UpdateAssumeRolePolicy
    shared: ModifySnapshotAttribute ModifyImageAttribute ModifyDBSnapshotAttribute
    shared: ModifyDBClusterSnapshotAttribute CreateResourceShare AssociateResourceShare
    revoked: RemovePermission RetireGrant DisassociateResourceShare
    deleted: ScheduleKeyDeletion LeaveOrganization
    updated: PasswordUpdated
    """
)

#: Verb prefixes; the longest match wins and must end at a CamelCase word boundary.
_PREFIX_ACTIONS = _table(
    """
    created: Create Run Add Register Allocate Upload Copy Restore
    imported: Import
    updated: Update Modify Put Set Attach Detach Enable Disable Change Associate Disassociate
    updated: Tag Untag Replace Reset Rotate Activate Deactivate Write
    deleted: Delete Remove Terminate Deregister Release Purge
    viewed: Get List Describe Head Lookup Search Select Scan Query Download Simulate Preview
    viewed: Estimate View
    executed: Invoke Start Execute Send Publish Decrypt Encrypt ReEncrypt Generate
    executed: GenerateDataKey Sign Verify Converse Test Reboot Failover Resume
    cancelled: Stop Cancel Abort
    shared: Share Grant Authorize
    revoked: Revoke Unshare
    exported: Export
    """
)
_PREFIXES = sorted(_PREFIX_ACTIONS, key=len, reverse=True)
# Lambda's versioned names: UpdateFunctionCode20150331v2, ListFunctions20150331.
_API_VERSION_SUFFIX = re.compile(r"\d{8}(?:v\d+)?\Z")
_ACTION_CACHE: dict[tuple[str, str], str] = {}


def action_for(service: str, event_name: str) -> str:
    """The normalized action for a CloudTrail ``eventName`` of a service.

    Args:
        service: ``eventSource`` without ``.amazonaws.com`` (``s3``, ``iam``), or "".
        event_name: the record's ``eventName``.

    Returns:
        One of auditkit's actions; ``other`` when the verb is not recognised.

    >>> action_for("s3", "PutBucketPolicy"), action_for("ec2", "RunInstances")
    ('shared', 'created')
    """
    key = (service, event_name)
    found = _ACTION_CACHE.get(key)
    if found is None:
        found = _classify_action(service, event_name)
        if len(_ACTION_CACHE) < 100_000:
            _ACTION_CACHE[key] = found
    return found


def _classify_action(service: str, event_name: str) -> str:
    name = _API_VERSION_SUFFIX.sub("", event_name) or event_name
    exact = _EXACT_ACTIONS.get(f"{service}:{name}") or _EXACT_ACTIONS.get(name)
    if exact:
        return exact
    if name.startswith("Batch") and len(name) > 5 and name[5].isupper():
        return _classify_action(service, name[5:])  # BatchGetSecretValue → GetSecretValue
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix) : len(prefix) + 1]
            if not rest or rest.isupper() or rest.isdigit():
                return _PREFIX_ACTIONS[prefix]
    return "other"


# ---------------------------------------------------------------------------
# Resources

#: ``(requestParameters key, service or "*", resource type)``, most specific first.
_PARAM_RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("bucketName", "*", "AWS::S3::Bucket"),
    ("roleName", "iam", "AWS::IAM::Role"),
    ("groupName", "iam", "AWS::IAM::Group"),
    ("userName", "iam", "AWS::IAM::User"),
    ("policyArn", "iam", "AWS::IAM::Policy"),
    ("roleArn", "sts", "AWS::IAM::Role"),
    ("instanceId", "*", "AWS::EC2::Instance"),
    ("groupName", "ec2", "AWS::EC2::SecurityGroup"),
    ("groupId", "ec2", "AWS::EC2::SecurityGroup"),
    ("keyName", "ec2", "AWS::EC2::KeyPair"),
    ("snapshotId", "ec2", "AWS::EC2::Snapshot"),
    ("imageId", "ec2", "AWS::EC2::Image"),
    ("functionName", "lambda", "AWS::Lambda::Function"),
    ("secretId", "secretsmanager", "AWS::SecretsManager::Secret"),
    ("keyId", "kms", "AWS::KMS::Key"),
    ("dBInstanceIdentifier", "rds", "AWS::RDS::DBInstance"),
    ("dBSnapshotIdentifier", "rds", "AWS::RDS::DBSnapshot"),
    ("dBClusterIdentifier", "rds", "AWS::RDS::DBCluster"),
    ("tableName", "dynamodb", "AWS::DynamoDB::Table"),
    ("logGroupName", "logs", "AWS::Logs::LogGroup"),
    ("topicArn", "sns", "AWS::SNS::Topic"),
    ("queueUrl", "sqs", "AWS::SQS::Queue"),
    ("name", "cloudtrail", "AWS::CloudTrail::Trail"),
    ("trailName", "cloudtrail", "AWS::CloudTrail::Trail"),
    ("name", "ssm", "AWS::SSM::Parameter"),
    ("repositoryName", "ecr", "AWS::ECR::Repository"),
    ("stackName", "cloudformation", "AWS::CloudFormation::Stack"),
    ("modelId", "bedrock", "AWS::Bedrock::Model"),
)
_PARAMS_BY_SERVICE: dict[str, tuple[tuple[str, str], ...]] = {}


def _params_for(service: str) -> tuple[tuple[str, str], ...]:
    found = _PARAMS_BY_SERVICE.get(service)
    if found is None:
        found = tuple((k, t) for k, s, t in _PARAM_RESOURCES if s in ("*", service))
        if len(_PARAMS_BY_SERVICE) < 10_000:
            _PARAMS_BY_SERVICE[service] = found
    return found


def _arn_name(arn: str) -> str:
    """The readable name in an ARN: ``...:role/path/Admin`` → ``Admin``; S3 keeps ``bucket/key``."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    resource = parts[5]
    if parts[2] == "s3":
        return resource
    if "/" in resource:
        return resource.rsplit("/", 1)[1] or resource
    return resource.rsplit(":", 1)[-1]


def _resource_from_params(
    service: str, params: dict[str, Any]
) -> tuple[str | None, str | None, str | None]:
    for key, kind in _params_for(service):
        value = params.get(key)
        if isinstance(value, str) and value:
            if key == "bucketName":
                obj_key = params.get("key")
                if isinstance(obj_key, str) and obj_key:
                    return "AWS::S3::Object", f"{value}/{obj_key}", f"{value}/{obj_key}"
            return kind, value, _arn_name(value)
    names = params.get("names")  # ssm GetParameters
    if service == "ssm" and isinstance(names, list) and names and isinstance(names[0], str):
        return "AWS::SSM::Parameter", names[0], _arn_name(names[0])
    instances = params.get("instancesSet")
    if isinstance(instances, dict):
        items = instances.get("items")
        if isinstance(items, list) and items and isinstance(items[0], dict):
            value = items[0].get("instanceId")
            if isinstance(value, str) and value:
                return "AWS::EC2::Instance", value, value
    return None, None, None


# ---------------------------------------------------------------------------
# Identities


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return None


def _after_colon(value: Any) -> str | None:
    if isinstance(value, str) and ":" in value:
        return value.split(":", 1)[1] or None
    return None


def _arn_tail(arn: Any, marker: str) -> list[str]:
    """Path segments after ``marker`` in an STS ARN (``:assumed-role/`` → [role, session])."""
    if isinstance(arn, str) and marker in arn:
        return arn.split(marker, 1)[1].split("/")
    return []


def _issuer_name(identity: dict[str, Any]) -> str | None:
    context = identity.get("sessionContext")
    if isinstance(context, dict):
        issuer = context.get("sessionIssuer")
        if isinstance(issuer, dict):
            return _first(issuer.get("userName"))
    return None


def _identity(identity: Any, record: dict[str, Any], event_name: str) -> tuple[str, str]:
    """``(actor, actor_type)`` for a record's ``userIdentity``; see the docs for each type."""
    if identity is None:
        return "anonymous", "anonymous"
    kind = identity.get("type")
    if kind == "IAMUser":
        actor = _first(identity.get("userName"), identity.get("arn"), identity.get("principalId"))
        return actor or "unknown", "user"
    if kind == "AssumedRole":
        segments = _arn_tail(identity.get("arn"), ":assumed-role/")
        role = _issuer_name(identity) or (segments[0] if segments else None)
        session = _after_colon(identity.get("principalId")) or (
            segments[-1] if len(segments) > 1 else None
        )
        if role and session:
            actor = f"{role}/{session}"
        else:
            actor = _first(identity.get("arn"), identity.get("principalId"), role) or "unknown"
        human = (
            (session is not None and "@" in session)
            or (role is not None and role.startswith("AWSReservedSSO_"))
            or record.get("sessionCredentialFromConsole") in ("true", True)
            or event_name == "ConsoleLogin"  # the console is used by people
        )
        return actor, "user" if human else "service_account"
    if kind == "Root":
        return "root", "user"
    if kind == "AWSService":
        return _first(identity.get("invokedBy"), identity.get("principalId")) or "aws-service", (
            "service_account"
        )
    if kind == "FederatedUser":
        segments = _arn_tail(identity.get("arn"), ":federated-user/")
        name = _after_colon(identity.get("principalId")) or (segments[-1] if segments else None)
        issuer = _issuer_name(identity)
        if issuer and name:
            return f"{issuer}/{name}", "user"
        actor = _first(issuer, name, identity.get("principalId"), identity.get("arn"))
        return actor or "unknown", "user"
    if kind == "IdentityCenterUser":
        extra = record.get("additionalEventData")
        on_behalf = identity.get("onBehalfOf")
        actor = _first(
            identity.get("userName"),
            extra.get("UserName") if isinstance(extra, dict) else None,
            on_behalf.get("userId") if isinstance(on_behalf, dict) else None,
            identity.get("principalId"),
            identity.get("arn"),
        )
        return actor or "unknown", "user"
    if kind in ("SAMLUser", "WebIdentityUser"):
        actor = _first(identity.get("userName"), identity.get("principalId"))
        return actor or "unknown", "user"
    if kind == "AWSAccount":
        account = identity.get("accountId")
        if account == "anonymous":  # S3 records anonymous requests this way
            return "anonymous", "anonymous"
        return _first(account, identity.get("principalId")) or "unknown", "unknown"
    if kind in ("Anonymous", "AnonymousPrincipal", "anonymous"):
        return "anonymous", "anonymous"
    actor = _first(
        identity.get("userName"),
        identity.get("arn"),
        identity.get("principalId"),
        identity.get("accountId"),
    )
    return actor or "unknown", "unknown"


# ---------------------------------------------------------------------------
# Lower-case keys (Athena / Glue exports spell every key in lower case)

_TOP_KEYS = """
    eventVersion userIdentity eventTime eventSource eventName awsRegion sourceIPAddress
    userAgent requestParameters responseElements additionalEventData requestID eventID
    eventType apiVersion managementEvent readOnly resources recipientAccountId
    serviceEventDetails sharedEventID vpcEndpointId vpcEndpointAccountId eventCategory
    errorCode errorMessage tlsDetails sessionCredentialFromConsole edgeDeviceDetails
    insightDetails addendum
"""
_IDENTITY_KEYS = """
    type principalId arn accountId accessKeyId userName invokedBy sessionContext
    sessionIssuer webIdFederationData attributes onBehalfOf credentialId identityProvider
"""
_CAMEL_TOP = {k.lower(): k for k in _TOP_KEYS.split()}
_CAMEL_IDENTITY = {k.lower(): k for k in _IDENTITY_KEYS.split()}


def _camel(obj: Any, names: dict[str, str]) -> Any:
    if not isinstance(obj, dict):
        return obj
    return {names.get(k, k): v for k, v in obj.items()}


def _camel_record(record: dict[str, Any]) -> dict[str, Any]:
    record = _camel(record, _CAMEL_TOP)
    identity = _camel(record.get("userIdentity"), _CAMEL_IDENTITY)
    if isinstance(identity, dict):
        context = _camel(identity.get("sessionContext"), _CAMEL_IDENTITY)
        if isinstance(context, dict) and "sessionIssuer" in context:
            context["sessionIssuer"] = _camel(context["sessionIssuer"], _CAMEL_IDENTITY)
        if context is not None:
            identity["sessionContext"] = context
        record["userIdentity"] = identity
    return record


# ---------------------------------------------------------------------------
# The per-record mapping

_IPV4 = re.compile(rf"{IPV4_OCTET}(?:\.{IPV4_OCTET}){{3}}\Z")
#: Timestamps added by export pipelines, used when a record has lost its eventTime.
_FALLBACK_TIMES = ("@timestamp", "p_event_time")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise RecordError(
            f"{field} must be an ISO-8601 string, got {_type_name(value)} {_short(value)}"
        )
    try:
        # CloudTrail writes 2024-06-12T10:15:30Z; parse the "Z" away to get a naive UTC value.
        parsed = datetime.fromisoformat(value[:-1] if value.endswith("Z") else value)
    except ValueError:
        raise RecordError(
            f"{field} {_short(value)} is not an ISO-8601 timestamp (like 2024-06-12T10:15:30Z)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    # Naive UTC: Polars reads naive values into the Datetime("us", "UTC") column as UTC,
    # about ten times faster than aware ones.
    return parsed


def _not_a_string(key: str, value: Any) -> str:
    return f"{key} must be a string, got {_type_name(value)} {_short(value)}"


def _is_success_code(code: str) -> bool:
    """HTTP success/redirect codes that some services write into errorCode (e.g. Grafana "200")."""
    return len(code) == 3 and code.isdigit() and "200" <= code < "400"


class _Mapper:
    """Maps one CloudTrail record dict to a canonical row; keeps small per-file caches."""

    def __init__(self) -> None:
        self._ips: dict[Any, str | None] = {}

    def _ip(self, value: Any) -> str | None:
        try:
            return self._ips[value]
        except KeyError:
            pass
        except TypeError:  # unhashable (a list or object): not an address
            return None
        if isinstance(value, str) and _IPV4.match(value):
            ip: str | None = value  # already canonical; ipaddress would return it unchanged
        else:
            ip = ip_or_none(value)
        if ip is None and isinstance(value, str) and "," in value:
            # "81.2.69.142, 192.168.10.10": the client first, then the proxies.
            for part in value.split(","):
                ip = ip_or_none(part)
                if ip is not None:
                    break
        if len(self._ips) > 100_000:
            self._ips.clear()
        self._ips[value] = ip
        return ip

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        if (
            "eventTime" not in record
            and "eventName" not in record
            and ("eventtime" in record or "eventname" in record)
        ):
            record = _camel_record(record)
        if "eventTime" in record:
            timestamp = _parse_time(record.pop("eventTime"), "eventTime")
        else:
            for field in _FALLBACK_TIMES:
                if field in record:
                    timestamp = _parse_time(record[field], field)  # kept in attributes
                    break
            else:
                raise RecordError(
                    "missing eventTime: not a CloudTrail event (keys: "
                    + ", ".join(list(record)[:12])
                    + ")"
                )
        event_name = record.pop("eventName", None)
        if not isinstance(event_name, str) or not event_name:
            raise RecordError(
                "missing eventName: not a CloudTrail event"
                if event_name is None
                else f"eventName must be a non-empty string, got {_short(event_name)}"
            )
        source = record.get("eventSource")
        if source is None:
            service = ""
        elif isinstance(source, str):
            service = source[:-14] if source.endswith(".amazonaws.com") else source
        else:
            raise RecordError(f"eventSource must be a string, got {_type_name(source)}")
        identity = record.get("userIdentity")
        if identity is not None and not isinstance(identity, dict):
            raise RecordError(
                f"userIdentity must be an object, got {_type_name(identity)} {_short(identity)}"
            )
        event_id = record.get("eventID")
        if isinstance(event_id, str) and event_id:
            del record["eventID"]
        else:
            event_id = None  # map_records hashes the raw record; a non-string id stays below
        user_agent = record.pop("userAgent", None)
        if user_agent is not None and type(user_agent) is not str:
            raise RecordError(_not_a_string("userAgent", user_agent))
        request_id = record.pop("requestID", None)
        if request_id is not None and type(request_id) is not str:
            raise RecordError(_not_a_string("requestID", request_id))

        actor, actor_type = _identity(identity, record, event_name)
        session_id = None
        account = None
        if identity is not None:
            key = identity.get("accessKeyId")
            if isinstance(key, str) and key.startswith("ASIA"):
                session_id = key  # temporary credentials: one key per STS/console session
            account = identity.get("accountId")
        recipient = record.get("recipientAccountId")
        if isinstance(recipient, str) and recipient:
            account = recipient
        elif not isinstance(account, str) or not account:
            account = None

        operation = f"{service}:{event_name}" if service else event_name
        action = action_for(service, event_name)

        status = "success"
        error_message = None
        error_code = record.get("errorCode")
        message = record.get("errorMessage")
        if error_code is not None and error_code != "":
            code = str(error_code)
            if not _is_success_code(code):
                status = "failed"
                error_message = f"{code}: {message}" if isinstance(message, str) else code
        else:
            # ConsoleLogin / SwitchRole put the outcome in responseElements; sign-in service
            # events (UserAuthentication, CredentialChallenge) in serviceEventDetails.
            response = record.get("responseElements")
            details = record.get("serviceEventDetails")
            if (isinstance(response, dict) and response.get(event_name) == "Failure") or (
                isinstance(details, dict) and details.get(event_name) == "Failure"
            ):
                status = "failed"
                error_message = message if isinstance(message, str) else f"{event_name} Failure"
        if status == "failed" and isinstance(message, str):
            del record["errorMessage"]

        source_ip = record.get("sourceIPAddress")
        ip = self._ip(source_ip) if source_ip is not None else None
        if source_ip is None or ip == source_ip:
            record.pop("sourceIPAddress", None)

        resources = record.get("resources")
        resource_type = resource_id = resource_name = None
        if isinstance(resources, list) and resources and isinstance(resources[0], dict):
            first = resources[0]
            resource_type = _first(first.get("type"))
            resource_id = _first(first.get("ARN"), first.get("arn"))
            resource_name = _arn_name(resource_id) if resource_id else None
        elif resources is not None and not isinstance(resources, list):
            raise RecordError(f"resources must be an array, got {_type_name(resources)}")
        else:
            params = record.get("requestParameters")
            if isinstance(params, dict):
                resource_type, resource_id, resource_name = _resource_from_params(service, params)
            if resource_type is None:
                lookup = record.get("lookupEvent")
                listed = lookup.get("Resources") if isinstance(lookup, dict) else None
                if isinstance(listed, list) and listed and isinstance(listed[0], dict):
                    resource_type = _first(listed[0].get("ResourceType"))
                    resource_name = _first(listed[0].get("ResourceName"))
                    resource_id = resource_name
        if resource_type is None and service:
            resource_type = service

        details = f"{actor} called {operation}"
        target = resource_name or resource_id
        if target:
            details += f" on {target}"
        if status == "failed":
            details += f" (failed: {error_code or message or 'Failure'})"

        return {
            "event_id": event_id,
            "timestamp": timestamp,
            "actor": actor,
            "actor_type": actor_type,
            "action": action,
            "operation": operation,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "resource_name": resource_name,
            "status": status,
            "ip_address": ip,
            "user_agent": user_agent,
            "session_id": session_id,
            "request_id": request_id,
            "details": details,
            "error_message": error_message,
            "source": "cloudtrail",
            "account": account,
            "attributes": fast_json(record),
        }


# ---------------------------------------------------------------------------
# Reading files

_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The position of the first non-whitespace character at or after ``pos``."""
    match = _WS.match(text, pos)
    return match.end() if match else pos


_DECODER = json.JSONDecoder()
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _is_digest(obj: dict[str, Any]) -> bool:
    return "digestStartTime" in obj and "eventTime" not in obj


def _clean(text: str) -> str:
    """Text safe to store: lone surrogates from undecodable bytes become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _FileReader:
    """Turns one file into ``(line or record index, raw, record | error)`` for map_records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notes: list[str] = []
        self.digests: list[int | None] = []
        self.events = 0
        self.index = 0  # running record index in document mode
        self.pos = 0  # where the value being walked starts (the damage, if it fails)
        self.ignored_keys: set[str] = set()

    # -- top level ------------------------------------------------------------

    def records(self) -> Iterator[_Record]:
        with open_binary(self.path) as fh:
            try:
                head = fh.read(HEAD_BYTES).lstrip(_LEADING)
            except GZIP_ERRORS:
                head = b"?"  # let the line reader report the damage

        if not head:
            self.notes.append(f"{self.path}: empty file; nothing to load")
            return
        if self._is_document(head):
            yield from self._document()
        else:
            for line, raw, obj in guard(iter_json_lines(self.path)):
                if type(obj) is dict and "eventTime" in obj and "CloudTrailEvent" not in obj:
                    self.events += 1  # the common case, without a generator per record
                    yield line, raw, obj
                else:
                    yield from self._classify(line, raw, obj)
        self._finish_notes()

    @staticmethod
    def _looks_like_lines(head: bytes) -> bool:
        lines = head.split(b"\n")[:-1]  # complete lines only
        if not lines:
            return True  # one long line: a record per line (or a single record)
        tried = 0
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                if isinstance(json.loads(line), dict):
                    return True
            except ValueError:
                pass
            tried += 1
            if tried == 5:
                break
        return tried < 2  # a single complete line that does not parse: still lines

    def _is_document(self, head: bytes) -> bool:
        if head.startswith(b"["):
            return True
        if _CONTAINER_START.match(head):
            return True
        return head.startswith(b"{") and not self._looks_like_lines(head)

    def _finish_notes(self) -> None:
        if self.digests:
            if self.events == 0 and len(self.digests) == 1:
                self.notes.append(
                    f"{self.path}: a CloudTrail digest file (integrity hashes of log files), "
                    "not events; skipped"
                )
            else:
                where = ", ".join(str(n) for n in self.digests[:10] if n is not None)
                more = "…" if len(self.digests) > 10 else ""
                self.notes.append(
                    f"{self.path}: {len(self.digests)} CloudTrail digest record(s) "
                    f"(integrity hashes of log files, not events) skipped"
                    + (f" at line/record {where}{more}" if where else "")
                )
        if self.ignored_keys:
            self.notes.append(
                f"{self.path}: file-level fields beside the record list were not loaded: "
                + ", ".join(sorted(self.ignored_keys))
                + (
                    " (NextToken means this lookup-events output is one page of several)"
                    if "NextToken" in self.ignored_keys
                    else ""
                )
            )

    # -- one value ------------------------------------------------------------

    def _classify(self, line: int | None, raw: bytes | str, obj: Any) -> Iterator[_Record]:
        """Yield what one parsed top-level value or list element holds."""
        if isinstance(obj, Exception):
            yield line, raw, obj
            return
        if isinstance(obj, dict):
            if "CloudTrailEvent" in obj:
                yield line, raw, self._unwrap_lookup(obj)
            elif _is_digest(obj):
                self.digests.append(line)
            elif isinstance(obj.get("Records"), list) and "eventTime" not in obj:
                yield from self._expand(line, obj, "Records")
            elif isinstance(obj.get("Events"), list) and "eventTime" not in obj:
                yield from self._expand(line, obj, "Events")
            else:
                self.events += 1
                yield line, raw, obj
            return
        if isinstance(obj, list):
            for element in obj:
                yield from self._classify(line, to_json(element) or "null", element)
            return
        yield (
            line,
            raw,
            ValueError(f"expected a JSON object (one CloudTrail record), got {_type_name(obj)}"),
        )

    def _expand(self, line: int | None, obj: dict[str, Any], key: str) -> Iterator[_Record]:
        # A whole delivery file on one line of a JSON Lines file (e.g. concatenated files).
        self.ignored_keys.update(k for k in obj if k != key)
        for element in obj[key]:
            yield from self._classify(line, to_json(element) or "null", element)

    def _unwrap_lookup(self, event: dict[str, Any]) -> Any:
        inner = event["CloudTrailEvent"]
        if isinstance(inner, str):
            try:
                record = json.loads(inner)
            except ValueError as exc:
                return ValueError(f"CloudTrailEvent is not valid JSON: {exc}")
        else:
            record = inner
        if not isinstance(record, dict):
            return ValueError(
                f"CloudTrailEvent must hold a JSON object (a CloudTrail record), "
                f"got {_type_name(record)}"
            )
        outer = {k: v for k, v in event.items() if k != "CloudTrailEvent"}
        if "eventTime" not in record and isinstance(outer.get("EventTime"), str):
            record["eventTime"] = outer["EventTime"]
        if "eventName" not in record and isinstance(outer.get("EventName"), str):
            record["eventName"] = outer["EventName"]
        if not record.get("eventID") and isinstance(outer.get("EventId"), str):
            record["eventID"] = outer["EventId"]
        record["lookupEvent"] = outer
        self.events += 1
        return record

    # -- whole documents ------------------------------------------------------

    def _document(self) -> Iterator[_Record]:
        chunks: list[bytes] = []
        with open_binary(self.path) as fh:
            try:
                while chunk := fh.read(1 << 16):  # small: a damaged gzip loses one chunk
                    chunks.append(chunk)
            except GZIP_ERRORS as exc:  # keep what came before; the walk rejects the tail
                self.notes.append(f"{self.path}: gzip stream truncated or damaged ({exc})")
        data = b"".join(chunks)
        del chunks
        try:
            text = data.decode("utf-8")
            check_utf8 = False
        except UnicodeDecodeError:
            text = data.decode("utf-8", "surrogateescape")
            check_utf8 = True
        del data
        pos = self.pos = _skip(text, 1 if text.startswith("\ufeff") else 0)
        try:
            while pos < len(text):
                if text[pos] == "[":
                    pos = yield from self._array(text, pos, check_utf8)
                elif text[pos] == "{":
                    pos = yield from self._object(text, pos, check_utf8)
                else:
                    raise ValueError(f"expected '{{' or '[' at char {pos}, found {text[pos]!r}")
                pos = _skip(text, pos)
        except (ValueError, IndexError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else "unexpected end of file"
            yield (
                self.index,
                _clean(text[self.pos : self.pos + MAX_RAW]),
                ValueError(f"not valid JSON (file truncated or damaged): {reason}"),
            )

    def _element(self, text: str, start: int, end: int, obj: Any, check: bool) -> Iterator[_Record]:
        raw = text[start:end]
        index = self.index
        self.index += 1
        if check and _SURROGATE.search(raw):
            yield index, _clean(raw), ValueError("not valid UTF-8")
            return
        yield from self._classify(index, raw, obj)

    def _array(self, text: str, pos: int, check: bool) -> _Walk:
        pos += 1
        while True:
            pos = _skip(text, pos)
            if text[pos] == "]":
                return pos + 1
            start = self.pos = pos
            obj, pos = _DECODER.raw_decode(text, pos)
            if (
                not check
                and type(obj) is dict
                and "eventTime" in obj
                and "CloudTrailEvent" not in obj
            ):
                self.events += 1  # the common case, without a generator per record
                yield self.index, text[start:pos], obj
                self.index += 1
            else:
                yield from self._element(text, start, pos, obj, check)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos += 1
            elif text[pos] != "]":
                raise ValueError(f"expected ',' or ']' at char {pos}, found {text[pos]!r}")

    def _object(self, text: str, pos: int, check: bool) -> _Walk:
        start = self.pos = pos
        pos += 1
        members: dict[str, Any] = {}
        container = False
        while True:
            pos = _skip(text, pos)
            if text[pos] == "}":
                pos += 1
                break
            key, pos = _DECODER.raw_decode(text, pos)
            if not isinstance(key, str):
                raise ValueError(f"expected a key string before char {pos}")
            pos = _skip(text, pos)
            if text[pos] != ":":
                raise ValueError(f"expected ':' at char {pos}, found {text[pos]!r}")
            pos = _skip(text, pos + 1)
            if key in ("Records", "Events") and text[pos] == "[":
                container = True
                pos = yield from self._array(text, pos, check)
            else:
                members[key], pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos += 1
            elif text[pos] == "}":
                pos += 1
                break
            else:
                raise ValueError(f"expected ',' or '}}' at char {pos}, found {text[pos]!r}")
        if container:
            self.ignored_keys.update(members)
        else:
            yield from self._element(text, start, pos, members, check)
        return pos


class CloudTrailSource:
    """AWS CloudTrail logs: S3 ``Records`` files, JSON Lines, arrays, ``lookup-events`` output."""

    name = "cloudtrail"
    #: Events per batch; memory stays flat however big a JSON Lines file is.
    batch_size = 50_000
    description = (
        'AWS CloudTrail: S3 delivery files ({"Records": [...]}, .json.gz), one record per '
        "line, JSON arrays, and `aws cloudtrail lookup-events` output"
    )

    def sniff(self, path: Path, head: bytes) -> bool:
        """Whether the first bytes look like CloudTrail records, lookup-events or a digest."""
        head = head.lstrip(_LEADING)
        if not head.startswith((b"{", b"[")):
            return False
        if _SNIFF_EVENT.search(head) or _SNIFF_LOOKUP.search(head):
            return True
        if _SNIFF_VERSION.search(head) and _SNIFF_TIME.search(head):
            return True
        if _SNIFF_DIGEST.search(head) and b'"logFiles"' in head:
            return True
        return bool(_SNIFF_EMPTY.match(head))

    def read(self, path: Path, *, strict: bool = False) -> Iterator[Batch]:
        """Yield batches of at most 50,000 events, with rejects and notes.

        Raises:
            RejectedRecordError: in strict mode, at the first record that cannot be loaded.
        """
        path = Path(path)
        reader = _FileReader(path)
        rejects = Rejects(path, strict=strict)
        batches = map_records(reader.records(), _Mapper(), rejects, batch_size=self.batch_size)
        for batch in batches:
            batch.notes.extend(reader.notes)
            reader.notes.clear()
            yield batch


SOURCE = CloudTrailSource()
