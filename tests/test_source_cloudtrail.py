"""The CloudTrail adapter: every input shape, every identity type, the action table, bad input,
and every CloudTrail record in the real third-party samples."""

from __future__ import annotations

import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import auditkit.sources as sources
from auditkit.errors import RejectedRecordError, SourceError
from auditkit.schema import ACTIONS, SCHEMA
from auditkit.sources import MAX_RAW, Source, ip_or_none
from auditkit.sources.cloudtrail import SOURCE, action_for

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
needs_realdata = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"real data samples not found at {REALDATA}"
)

MISSING = object()


def make_record(**overrides: Any) -> dict[str, Any]:
    """A valid CloudTrail record (alice puts an object into S3); ``key=MISSING`` drops a key."""
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice",
        },
        "eventTime": "2024-06-12T10:15:30Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"bucketName": "reports", "key": "q2.csv"},
        "responseElements": None,
        "requestID": "REQ-1",
        "eventID": "evt-1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": "111122223333",
        "eventCategory": "Data",
    }
    for key, value in overrides.items():
        if value is MISSING:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def load(path: Path, **kwargs: Any) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """All events, rejects and notes of a file."""
    batches = list(SOURCE.read(path, **kwargs))
    assert batches, "read() must yield at least one batch"
    events = pl.concat([b.events for b in batches])
    rejects = pl.concat([b.rejects for b in batches])
    notes = [note for b in batches for note in b.notes]
    return events, rejects, notes


def write_lines(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def one(record: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The single event a record maps to."""
    events, rejects, _ = load(write_lines(tmp_path / "one.jsonl", [record]))
    assert rejects.height == 0, rejects.get_column("reason").to_list()
    assert events.height == 1
    return events.row(0, named=True)


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    value = json.loads(event["attributes"])
    assert isinstance(value, dict)
    return value


# ---------------------------------------------------------------------------
# Registry


def test_source_is_found_through_the_registry() -> None:
    assert isinstance(SOURCE, Source)
    assert sources.get("cloudtrail") is SOURCE
    assert SOURCE.name == "cloudtrail"


# ---------------------------------------------------------------------------
# The mapping of one record


def test_a_record_maps_to_every_column(tmp_path: Path) -> None:
    event = one(make_record(), tmp_path)
    columns = {k: v for k, v in event.items() if k != "attributes"}
    assert columns == {
        "event_id": "evt-1",
        "timestamp": datetime(2024, 6, 12, 10, 15, 30, tzinfo=UTC),
        "actor": "alice",
        "actor_type": "user",
        "action": "created",
        "operation": "s3:PutObject",
        "resource_type": "AWS::S3::Object",
        "resource_id": "reports/q2.csv",
        "resource_name": "reports/q2.csv",
        "status": "success",
        "ip_address": "198.51.100.7",
        "user_agent": "aws-cli/2.15.0",
        "session_id": None,
        "request_id": "REQ-1",
        "duration_ms": None,
        "details": "alice called s3:PutObject on reports/q2.csv",
        "error_message": None,
        "before": None,
        "after": None,
        "source": "cloudtrail",
        "account": "111122223333",
        "ingested_at": None,
    }
    attrs = attributes(event)
    # Fields that became columns are not repeated; everything else is kept.
    for gone in ("eventTime", "eventName", "eventID", "userAgent", "requestID", "sourceIPAddress"):
        assert gone not in attrs
    for kept in (
        "eventVersion",
        "userIdentity",
        "eventSource",
        "awsRegion",
        "requestParameters",
        "responseElements",
        "readOnly",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    ):
        assert kept in attrs
    assert attrs["userIdentity"]["accessKeyId"] == "AKIAEXAMPLE"


def test_the_frame_is_in_the_canonical_schema(tmp_path: Path) -> None:
    events, _, _ = load(write_lines(tmp_path / "a.jsonl", [make_record()]))
    assert events.schema == pl.Schema(SCHEMA)


def test_unknown_and_pipeline_fields_are_kept_in_attributes(tmp_path: Path) -> None:
    record = make_record(
        **{
            "@timestamp": "2024-06-12T10:15:31.000Z",
            "@version": "1",
            "p_log_type": "AWS.CloudTrail",
            "brandNewField": {"nested": [1, 2]},
            "tlsDetails": {"tlsVersion": "TLSv1.3"},
            "sharedEventID": "shared-1",
            "vpcEndpointId": "vpce-1",
            "additionalEventData": {"bytesTransferredIn": 12},
        }
    )
    attrs = attributes(one(record, tmp_path))
    assert attrs["@timestamp"] == "2024-06-12T10:15:31.000Z"
    assert attrs["@version"] == "1"
    assert attrs["p_log_type"] == "AWS.CloudTrail"
    assert attrs["brandNewField"] == {"nested": [1, 2]}
    assert attrs["tlsDetails"] == {"tlsVersion": "TLSv1.3"}
    assert attrs["sharedEventID"] == "shared-1"
    assert attrs["vpcEndpointId"] == "vpce-1"
    assert attrs["additionalEventData"] == {"bytesTransferredIn": 12}


def test_a_record_without_event_id_gets_a_stable_hash(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [make_record(eventID=MISSING)])
    first = load(path)[0].get_column("event_id").to_list()
    again = load(path)[0].get_column("event_id").to_list()
    assert first == again
    assert first[0].startswith("cloudtrail_")


@pytest.mark.parametrize(
    ("event_time", "expected"),
    [
        ("2024-06-12T10:15:30Z", datetime(2024, 6, 12, 10, 15, 30, tzinfo=UTC)),
        ("2020-09-14T00:44:23.123Z", datetime(2020, 9, 14, 0, 44, 23, 123000, tzinfo=UTC)),
        # lookup-events' local-time form, and Athena's space-separated UTC form
        ("2022-02-08 09:23:37+11:00", datetime(2022, 2, 7, 22, 23, 37, tzinfo=UTC)),
        ("2023-01-10 21:04:02", datetime(2023, 1, 10, 21, 4, 2, tzinfo=UTC)),
    ],
)
def test_event_time_is_utc(event_time: str, expected: datetime, tmp_path: Path) -> None:
    assert one(make_record(eventTime=event_time), tmp_path)["timestamp"] == expected


def test_a_logstash_export_without_event_time_uses_its_timestamp(tmp_path: Path) -> None:
    record = make_record(eventTime=MISSING, **{"@timestamp": "2020-09-14T00:44:23.000Z"})
    event = one(record, tmp_path)
    assert event["timestamp"] == datetime(2020, 9, 14, 0, 44, 23, tzinfo=UTC)
    assert attributes(event)["@timestamp"] == "2020-09-14T00:44:23.000Z"


def test_lower_case_keys_of_athena_exports_are_understood(tmp_path: Path) -> None:
    record = {
        "eventversion": "1.08",
        "eventtime": "2023-01-10 21:04:02",
        "eventsource": "iam.amazonaws.com",
        "eventname": "GetAccountPasswordPolicy",
        "eventid": "lc-1",
        "useridentity": {"type": "IAMUser", "username": "bob", "accountid": "123456789012"},
        "recipientaccountid": "123456789012",
    }
    event = one(record, tmp_path)
    assert event["event_id"] == "lc-1"
    assert event["operation"] == "iam:GetAccountPasswordPolicy"
    assert event["actor"] == "bob"
    assert event["account"] == "123456789012"
    assert event["action"] == "viewed"


# ---------------------------------------------------------------------------
# Identities

ASSUMED_ROLE = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:deploy-bot",
    "arn": "arn:aws:sts::111122223333:assumed-role/Deployer/deploy-bot",
    "accountId": "111122223333",
    "accessKeyId": "ASIATEMPKEY",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "principalId": "AROAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:role/Deployer",
            "accountId": "111122223333",
            "userName": "Deployer",
        },
        "attributes": {"creationDate": "2024-06-12T09:00:00Z", "mfaAuthenticated": "false"},
    },
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(base)
    result.update(changes)
    return result


@pytest.mark.parametrize(
    ("identity", "extra", "actor", "actor_type", "session_id"),
    [
        pytest.param(
            {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::1:user/alice"},
            {},
            "alice",
            "user",
            None,
            id="IAMUser",
        ),
        pytest.param(
            {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice", "principalId": "AIDA1"},
            {},
            "arn:aws:iam::1:user/alice",
            "user",
            None,
            id="IAMUser-no-name",
        ),
        pytest.param(
            ASSUMED_ROLE, {}, "Deployer/deploy-bot", "service_account", "ASIATEMPKEY", id="role"
        ),
        pytest.param(
            _with(
                ASSUMED_ROLE,
                principalId="AROAEXAMPLE:jane@example.com",
                arn="arn:aws:sts::111122223333:assumed-role/Deployer/jane@example.com",
            ),
            {},
            "Deployer/jane@example.com",
            "user",
            "ASIATEMPKEY",
            id="role-email-session",
        ),
        pytest.param(
            _with(
                ASSUMED_ROLE,
                principalId="AROAEXAMPLE:jdoe",
                sessionContext={"sessionIssuer": {"userName": "AWSReservedSSO_Admin_0123"}},
            ),
            {},
            "AWSReservedSSO_Admin_0123/jdoe",
            "user",
            "ASIATEMPKEY",
            id="role-identity-center",
        ),
        pytest.param(
            ASSUMED_ROLE,
            {"sessionCredentialFromConsole": "true"},
            "Deployer/deploy-bot",
            "user",
            "ASIATEMPKEY",
            id="role-console",
        ),
        pytest.param(
            {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Ops/i-0abc"},
            {},
            "Ops/i-0abc",
            "service_account",
            None,
            id="role-from-arn-only",
        ),
        pytest.param(
            {"type": "Root", "arn": "arn:aws:iam::1:root", "accountId": "1"},
            {},
            "root",
            "user",
            None,
            id="Root",
        ),
        pytest.param(
            {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
            {},
            "ec2.amazonaws.com",
            "service_account",
            None,
            id="AWSService",
        ),
        pytest.param(
            {
                "type": "FederatedUser",
                "principalId": "742491224508:stratus_red_team",
                "arn": "arn:aws:sts::742491224508:federated-user/stratus_red_team",
                "accessKeyId": "ASIAFEDERATED",
                "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": "broker"}},
            },
            {},
            "broker/stratus_red_team",
            "user",
            "ASIAFEDERATED",
            id="FederatedUser",
        ),
        pytest.param(
            {"type": "FederatedUser", "principalId": "1:fed-user", "accessKeyId": "ASIA1"},
            {},
            "fed-user",
            "user",
            "ASIA1",
            id="FederatedUser-no-issuer",
        ),
        pytest.param(
            {"type": "IdentityCenterUser", "onBehalfOf": {"userId": "u-123"}},
            {},
            "u-123",
            "user",
            None,
            id="IdentityCenterUser-userId",
        ),
        pytest.param(
            {"type": "IdentityCenterUser", "onBehalfOf": {"userId": "u-123"}},
            {"additionalEventData": {"UserName": "kim@example.com"}},
            "kim@example.com",
            "user",
            None,
            id="IdentityCenterUser-signin",
        ),
        pytest.param(
            {"type": "SAMLUser", "userName": "some.user@my.company.com"},
            {},
            "some.user@my.company.com",
            "user",
            None,
            id="SAMLUser",
        ),
        pytest.param(
            {"type": "AWSAccount", "accountId": "444455556666", "principalId": "AIDA:lambda"},
            {},
            "444455556666",
            "unknown",
            None,
            id="AWSAccount",
        ),
        pytest.param(
            {"type": "AWSAccount", "accountId": "anonymous", "principalId": ""},
            {},
            "anonymous",
            "anonymous",
            None,
            id="AWSAccount-anonymous-S3",
        ),
        pytest.param(
            {"type": "AnonymousPrincipal"}, {}, "anonymous", "anonymous", None, id="Anonymous"
        ),
        pytest.param(MISSING, {}, "anonymous", "anonymous", None, id="no-userIdentity"),
        pytest.param(None, {}, "anonymous", "anonymous", None, id="null-userIdentity"),
        pytest.param(
            {"type": "Unknown", "userName": "<victim display name>", "accountId": "1"},
            {},
            "<victim display name>",
            "unknown",
            None,
            id="Unknown",
        ),
        pytest.param(
            {"type": "SomethingNew", "principalId": "XYZ"},
            {},
            "XYZ",
            "unknown",
            None,
            id="new-type",
        ),
        pytest.param({}, {}, "unknown", "unknown", None, id="empty-userIdentity"),
    ],
)
def test_identity_types(
    identity: Any,
    extra: dict[str, Any],
    actor: str,
    actor_type: str,
    session_id: str | None,
    tmp_path: Path,
) -> None:
    event = one(make_record(userIdentity=identity, **extra), tmp_path)
    assert (event["actor"], event["actor_type"], event["session_id"]) == (
        actor,
        actor_type,
        session_id,
    )
    if isinstance(identity, dict):
        # The full identity, type included, stays in attributes.
        assert attributes(event)["userIdentity"] == identity


def test_console_login_by_an_assumed_role_is_a_person(tmp_path: Path) -> None:
    record = make_record(
        eventSource="signin.amazonaws.com", eventName="ConsoleLogin", userIdentity=ASSUMED_ROLE
    )
    assert one(record, tmp_path)["actor_type"] == "user"


def test_account_prefers_the_recipient_account(tmp_path: Path) -> None:
    identity = {"type": "IAMUser", "userName": "x", "accountId": "999"}
    assert one(make_record(userIdentity=identity), tmp_path)["account"] == "111122223333"
    record = make_record(userIdentity=identity, recipientAccountId=MISSING)
    assert one(record, tmp_path)["account"] == "999"


# ---------------------------------------------------------------------------
# Actions

# Real eventNames from the samples (plus a few well-known ones) → action.
ACTION_CASES = [
    ("s3", "PutObject", "created"),
    ("s3", "GetObject", "viewed"),
    ("s3", "CopyObject", "viewed"),
    ("s3", "ListObjects", "viewed"),
    ("s3", "HeadBucket", "viewed"),
    ("s3", "DeleteBucket", "deleted"),
    ("s3", "DeleteObjects", "deleted"),
    ("s3", "PutBucketVersioning", "updated"),
    ("s3", "PutBucketPolicy", "shared"),
    ("s3", "PutBucketAcl", "shared"),
    ("s3", "PutBucketPublicAccessBlock", "updated"),
    ("iam", "CreateUser", "created"),
    ("iam", "CreateAccessKey", "created"),
    ("iam", "CreateLoginProfile", "created"),
    ("iam", "UpdateLoginProfile", "updated"),
    ("iam", "AttachUserPolicy", "updated"),
    ("iam", "AttachRolePolicy", "updated"),
    ("iam", "PutUserPolicy", "updated"),
    ("iam", "UpdateAssumeRolePolicy", "shared"),
    ("iam", "UploadSSHPublicKey", "created"),
    ("iam", "DeleteLoginProfile", "deleted"),
    ("iam", "ListAccessKeys", "viewed"),
    ("iam", "ChangePassword", "updated"),
    ("iam", "NotCreateUser", "other"),
    ("signin", "ConsoleLogin", "login"),
    ("signin", "UserAuthentication", "login"),
    ("signin", "CredentialChallenge", "login"),
    ("signin", "SwitchRole", "login"),
    ("signin", "GetSigninToken", "login"),
    ("signin", "Logout", "logout"),
    ("signin", "PasswordUpdated", "updated"),
    ("sts", "AssumeRole", "login"),
    ("sts", "AssumeRoleWithSAML", "login"),
    ("sts", "GetSessionToken", "login"),
    ("sts", "GetFederationToken", "login"),
    ("sts", "GetCallerIdentity", "viewed"),
    ("sso", "Authenticate", "login"),
    ("sso-oidc", "CreateToken", "login"),
    ("ec2", "RunInstances", "created"),
    ("ec2", "DescribeInstances", "viewed"),
    ("ec2", "GetPasswordData", "viewed"),
    ("ec2", "StartInstances", "executed"),
    ("ec2", "StopInstances", "cancelled"),
    ("ec2", "TerminateInstances", "deleted"),
    ("ec2", "ModifyInstanceAttribute", "updated"),
    ("ec2", "ModifySnapshotAttribute", "shared"),
    ("ec2", "ModifyImageAttribute", "shared"),
    ("ec2", "AuthorizeSecurityGroupIngress", "shared"),
    ("ec2", "AuthorizeSecurityGroupEgress", "shared"),
    ("ec2", "RevokeSecurityGroupIngress", "revoked"),
    ("ec2", "CreateKeyPair", "created"),
    ("ec2", "ImportKeyPair", "imported"),
    ("ec2", "DeleteFlowLogs", "deleted"),
    ("ec2", "EnableSerialConsoleAccess", "updated"),
    ("ec2", "AllocateAddress", "created"),
    ("ec2", "ReleaseAddress", "deleted"),
    ("ec2", "CreateInstanceExportTask", "exported"),
    ("ec2-instance-connect", "SendSSHPublicKey", "executed"),
    ("ssm", "SendCommand", "executed"),
    ("ssm", "StartSession", "executed"),
    ("ssm", "TerminateSession", "deleted"),
    ("ssm", "GetParameters", "viewed"),
    ("ssm", "UpdateInstanceInformation", "updated"),
    ("secretsmanager", "GetSecretValue", "viewed"),
    ("secretsmanager", "BatchGetSecretValue", "viewed"),
    ("secretsmanager", "PutResourcePolicy", "shared"),
    ("kms", "Decrypt", "executed"),
    ("kms", "GenerateDataKey", "executed"),
    ("kms", "GenerateDataKeyWithoutPlaintext", "executed"),
    ("kms", "CreateGrant", "shared"),
    ("kms", "RevokeGrant", "revoked"),
    ("kms", "ScheduleKeyDeletion", "deleted"),
    ("kms", "PutKeyPolicy", "shared"),
    ("kms", "DisableKey", "updated"),
    ("cloudtrail", "StopLogging", "cancelled"),
    ("cloudtrail", "StartLogging", "executed"),
    ("cloudtrail", "DeleteTrail", "deleted"),
    ("cloudtrail", "UpdateTrail", "updated"),
    ("cloudtrail", "PutEventSelectors", "updated"),
    ("cloudtrail", "LookupEvents", "viewed"),
    ("lambda", "UpdateFunctionCode20150331v2", "updated"),
    ("lambda", "AddPermission20150331v2", "shared"),
    ("lambda", "RemovePermission", "revoked"),
    ("lambda", "ListFunctions20150331", "viewed"),
    ("lambda", "Invoke", "executed"),
    ("rds", "ModifyDBSnapshotAttribute", "shared"),
    ("rds", "StartExportTask", "exported"),
    ("rds", "DownloadDBLogFilePortion", "viewed"),
    ("rds", "RestoreDBInstanceFromDBSnapshot", "created"),
    ("rds", "RebootDBInstance", "executed"),
    ("rds", "CancelExportTask", "cancelled"),
    ("logs", "CreateExportTask", "exported"),
    ("athena", "StartQueryExecution", "executed"),
    ("dynamodb", "Query", "viewed"),
    ("dynamodb", "Scan", "viewed"),
    ("bedrock", "InvokeModel", "executed"),
    ("organizations", "LeaveOrganization", "deleted"),
    ("ram", "CreateResourceShare", "shared"),
    ("sns", "Publish", "executed"),
    ("ec2", "TagResource", "updated"),
    ("grafana", "action", "other"),
    ("ec2", "SharedSnapshotVolumeCreated", "other"),
    ("ec2", "Getaway", "other"),  # a verb prefix must end at a word boundary
]


@pytest.mark.parametrize(("service", "event_name", "action"), ACTION_CASES)
def test_action_for_event_names(service: str, event_name: str, action: str) -> None:
    assert action_for(service, event_name) == action


def test_every_action_is_in_the_schema_vocabulary() -> None:
    assert {a for _, _, a in ACTION_CASES} <= set(ACTIONS)
    from auditkit.sources.cloudtrail import _EXACT_ACTIONS, _PREFIX_ACTIONS

    assert set(_EXACT_ACTIONS.values()) | set(_PREFIX_ACTIONS.values()) <= set(ACTIONS)


def test_operation_and_action_columns(tmp_path: Path) -> None:
    record = make_record(eventSource="iam.amazonaws.com", eventName="CreateUser")
    event = one(record, tmp_path)
    assert (event["operation"], event["action"]) == ("iam:CreateUser", "created")
    no_source = one(make_record(eventSource=MISSING, eventName="CreateUser"), tmp_path)
    assert no_source["operation"] == "CreateUser"


# ---------------------------------------------------------------------------
# Status


@pytest.mark.parametrize(
    ("changes", "status", "error_message"),
    [
        pytest.param({}, "success", None, id="no-error"),
        pytest.param(
            {"errorCode": "AccessDenied", "errorMessage": "User: x is not authorized"},
            "failed",
            "AccessDenied: User: x is not authorized",
            id="error-code-and-message",
        ),
        pytest.param(
            {"errorCode": "Client.UnauthorizedOperation"},
            "failed",
            "Client.UnauthorizedOperation",
            id="error-code-only",
        ),
        # Grafana's SAMLUser events write the HTTP status into errorCode: 200 is not an error.
        pytest.param({"errorCode": "200"}, "success", None, id="http-200-is-success"),
        pytest.param({"errorCode": ""}, "success", None, id="empty-error-code"),
        pytest.param(
            {
                "eventSource": "signin.amazonaws.com",
                "eventName": "ConsoleLogin",
                "responseElements": {"ConsoleLogin": "Failure"},
                "errorMessage": "Failed authentication",
            },
            "failed",
            "Failed authentication",
            id="console-login-failure",
        ),
        pytest.param(
            {
                "eventSource": "signin.amazonaws.com",
                "eventName": "ConsoleLogin",
                "responseElements": {"ConsoleLogin": "Failure"},
            },
            "failed",
            "ConsoleLogin Failure",
            id="console-login-failure-no-message",
        ),
        pytest.param(
            {
                "eventSource": "signin.amazonaws.com",
                "eventName": "ConsoleLogin",
                "responseElements": {"ConsoleLogin": "Success"},
            },
            "success",
            None,
            id="console-login-success",
        ),
        pytest.param(
            {
                "eventSource": "signin.amazonaws.com",
                "eventName": "UserAuthentication",
                "serviceEventDetails": {"UserAuthentication": "Failure"},
            },
            "failed",
            "UserAuthentication Failure",
            id="user-authentication-failure",
        ),
    ],
)
def test_status_and_error_message(
    changes: dict[str, Any], status: str, error_message: str | None, tmp_path: Path
) -> None:
    event = one(make_record(**changes), tmp_path)
    assert (event["status"], event["error_message"]) == (status, error_message)
    if "errorCode" in changes:
        assert attributes(event)["errorCode"] == changes["errorCode"]


def test_details_summarise_the_event(tmp_path: Path) -> None:
    record = make_record(errorCode="AccessDenied", errorMessage="no")
    assert one(record, tmp_path)["details"] == (
        "alice called s3:PutObject on reports/q2.csv (failed: AccessDenied)"
    )


# ---------------------------------------------------------------------------
# IP addresses


@pytest.mark.parametrize(
    ("source_ip", "ip", "kept"),
    [
        ("198.51.100.7", "198.51.100.7", False),
        ("2001:db8::1", "2001:db8::1", False),
        ("2001:DB8:0:0::1", "2001:db8::1", True),  # normalized, original kept
        ("ec2.amazonaws.com", None, True),
        ("AWS Internal", None, True),
        ("211.9.016.253", None, True),  # anonymised, not a valid IPv4 address
        ("81.2.69.142, 192.168.10.10", "81.2.69.142", True),  # the client, then proxies
        ("redacted", None, True),
        (MISSING, None, False),
        (None, None, False),
    ],
)
def test_ip_address(source_ip: Any, ip: str | None, kept: bool, tmp_path: Path) -> None:
    event = one(make_record(sourceIPAddress=source_ip), tmp_path)
    assert event["ip_address"] == ip
    attrs = attributes(event)
    if kept:
        assert attrs["sourceIPAddress"] == source_ip
    else:
        assert "sourceIPAddress" not in attrs


# ---------------------------------------------------------------------------
# Resources


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {
                "resources": [
                    {"type": "AWS::IAM::Role", "ARN": "arn:aws:iam::1:role/path/Admin"},
                    {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::b"},
                ]
            },
            ("AWS::IAM::Role", "arn:aws:iam::1:role/path/Admin", "Admin"),
            id="resources-first",
        ),
        pytest.param(
            {"resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::bkt/dir/f.json"}]},
            ("AWS::S3::Object", "arn:aws:s3:::bkt/dir/f.json", "bkt/dir/f.json"),
            id="s3-object-arn",
        ),
        pytest.param(
            {"requestParameters": {"bucketName": "reports"}},
            ("AWS::S3::Bucket", "reports", "reports"),
            id="bucket",
        ),
        pytest.param(
            {
                "eventSource": "iam.amazonaws.com",
                "eventName": "AttachUserPolicy",
                "requestParameters": {"userName": "bob", "policyArn": "arn:aws:iam::aws:p/A"},
            },
            ("AWS::IAM::User", "bob", "bob"),
            id="iam-user",
        ),
        pytest.param(
            {
                "eventSource": "ec2.amazonaws.com",
                "eventName": "CreateSecurityGroup",
                "requestParameters": {"groupName": "web"},
            },
            ("AWS::EC2::SecurityGroup", "web", "web"),
            id="ec2-group-is-a-security-group",
        ),
        pytest.param(
            {
                "eventSource": "ec2.amazonaws.com",
                "eventName": "DescribeInstances",
                "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-1"}]}},
            },
            ("AWS::EC2::Instance", "i-1", "i-1"),
            id="instances-set",
        ),
        pytest.param(
            {
                "eventSource": "cloudtrail.amazonaws.com",
                "eventName": "StopLogging",
                "requestParameters": {"name": "arn:aws:cloudtrail:us-east-1:1:trail/main"},
            },
            ("AWS::CloudTrail::Trail", "arn:aws:cloudtrail:us-east-1:1:trail/main", "main"),
            id="trail",
        ),
        pytest.param(
            {
                "eventSource": "sts.amazonaws.com",
                "eventName": "GetCallerIdentity",
                "requestParameters": None,
            },
            ("sts", None, None),
            id="service-fallback",
        ),
    ],
)
def test_resource(changes: dict[str, Any], expected: tuple[Any, ...], tmp_path: Path) -> None:
    event = one(make_record(**changes), tmp_path)
    assert (event["resource_type"], event["resource_id"], event["resource_name"]) == expected


# ---------------------------------------------------------------------------
# Input shapes


def _records() -> list[dict[str, Any]]:
    return [
        make_record(eventID=f"evt-{i}", eventTime=f"2024-06-12T10:15:{i:02d}Z") for i in range(5)
    ]


def _lookup_event(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "false",
        "EventTime": "2024-06-12 20:15:00+10:00",
        "EventSource": record["eventSource"],
        "Username": "alice",
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
    }


def _write_shape(shape: str, tmp_path: Path) -> Path:
    records = _records()
    if shape == "jsonl":
        return write_lines(tmp_path / "trail.jsonl", records)
    if shape == "records":
        path = tmp_path / "111122223333_CloudTrail_us-east-1_20240612T1015Z_x.json"
        path.write_text(json.dumps({"Records": records}))
        return path
    if shape == "records-pretty":
        path = tmp_path / "pretty.json"
        path.write_text(json.dumps({"Records": records}, indent=2))
        return path
    if shape == "records-gz":
        path = tmp_path / "111122223333_CloudTrail_us-east-1_20240612T1015Z_x.json.gz"
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
        return path
    if shape == "concatenated-records":
        halves = [{"Records": records[:2]}, {"Records": records[2:]}]
        return write_lines(tmp_path / "all.json", halves)
    if shape == "array":
        path = tmp_path / "array.json"
        path.write_text(json.dumps(records, indent=1))
        return path
    if shape == "lookup-events":
        path = tmp_path / "lookup.json"
        doc = {"Events": [_lookup_event(r) for r in records], "NextToken": "abc"}
        path.write_text(json.dumps(doc, indent=4))
        return path
    if shape == "lookup-lines":
        return write_lines(tmp_path / "lookup.jsonl", [_lookup_event(r) for r in records])
    if shape == "logstash":
        stamped = [r | {"@timestamp": r["eventTime"], "@version": "1"} for r in records]
        return write_lines(tmp_path / "logstash.json", stamped)
    raise AssertionError(shape)


SHAPES = [
    "jsonl",
    "records",
    "records-pretty",
    "records-gz",
    "concatenated-records",
    "array",
    "lookup-events",
    "lookup-lines",
    "logstash",
]
COMPARED = ["event_id", "timestamp", "actor", "action", "operation", "status", "ip_address"]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_loads_the_same_events(shape: str, tmp_path: Path) -> None:
    path = _write_shape(shape, tmp_path)
    events, rejects, _ = load(path)
    (tmp_path / "base").mkdir()
    baseline, _, _ = load(_write_shape("jsonl", tmp_path / "base"))
    assert rejects.height == 0
    assert events.select(COMPARED).equals(baseline.select(COMPARED))


@pytest.mark.parametrize(
    "shape",
    SHAPES,
)
def test_detect_picks_cloudtrail_for_every_shape(shape: str, tmp_path: Path) -> None:
    assert sources.detect(_write_shape(shape, tmp_path)).name == "cloudtrail"


def test_lookup_events_keep_the_outer_fields(tmp_path: Path) -> None:
    events, _, notes = load(_write_shape("lookup-events", tmp_path))
    attrs = attributes(events.row(0, named=True))
    assert attrs["lookupEvent"]["Username"] == "alice"
    assert "CloudTrailEvent" not in attrs["lookupEvent"]
    assert any("NextToken" in note for note in notes)


def test_gzip_and_plain_give_the_same_events(tmp_path: Path) -> None:
    plain, _, _ = load(_write_shape("records", tmp_path))
    packed, _, _ = load(_write_shape("records-gz", tmp_path))
    assert plain.equals(packed)


def test_batches_hold_at_most_batch_size_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SOURCE, "batch_size", 2)
    records: list[Any] = _records()
    records.insert(3, {"not": "an event"})
    path = write_lines(tmp_path / "a.jsonl", records)
    batches = list(SOURCE.read(path))
    assert [b.events.height for b in batches] == [2, 2, 1]
    assert sum(b.rejects.height for b in batches) == 1


# ---------------------------------------------------------------------------
# Digest files


def test_a_digest_line_among_events_is_noted_not_rejected(tmp_path: Path) -> None:
    digest = {
        "awsAccountId": "111122223333",
        "digestStartTime": "2024-06-12T09:00:00Z",
        "digestEndTime": "2024-06-12T10:00:00Z",
        "logFiles": [],
    }
    path = write_lines(tmp_path / "mixed.jsonl", [make_record(), digest, make_record()])
    events, rejects, notes = load(path)
    assert (events.height, rejects.height) == (2, 0)
    assert len(notes) == 1
    assert "digest" in notes[0]
    assert "line/record 2" in notes[0]


# ---------------------------------------------------------------------------
# Bad input


def _reasons(rejects: pl.DataFrame) -> dict[int, str]:
    return dict(zip(rejects.get_column("line"), rejects.get_column("reason"), strict=True))


def test_a_truncated_line_among_good_ones(tmp_path: Path) -> None:
    good = json.dumps(make_record())
    path = tmp_path / "t.jsonl"
    path.write_text(f"{good}\n{good[:80]}\n{good}\n")
    events, rejects, _ = load(path)
    assert events.height == 2
    reasons = _reasons(rejects)
    assert list(reasons) == [2]
    assert "not valid JSON" in reasons[2]
    assert rejects.get_column("raw")[0] == good[:80]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"eventTime": 12}, "eventTime must be an ISO-8601 string, got number 12"),
        ({"eventTime": "yesterday"}, "eventTime 'yesterday' is not an ISO-8601 timestamp"),
        ({"eventTime": MISSING}, "missing eventTime"),
        ({"eventName": MISSING}, "missing eventName"),
        ({"eventName": ["x"]}, "eventName must be a non-empty string"),
        ({"userIdentity": "x"}, "userIdentity must be an object, got string 'x'"),
        ({"eventSource": 5}, "eventSource must be a string"),
        ({"userAgent": {"a": 1}}, "userAgent must be a string, got object"),
        ({"resources": "arn:aws:s3:::b"}, "resources must be an array"),
    ],
)
def test_wrong_or_missing_fields_are_rejected_with_a_reason(
    changes: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [make_record(), make_record(**changes)])
    events, rejects, _ = load(path)
    assert events.height == 1
    reasons = _reasons(rejects)
    assert list(reasons) == [2]
    assert reason in reasons[2]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[1, 2]", "expected a JSON object (one CloudTrail record), got number"),
        ('"just a string"', "expected a JSON object (one CloudTrail record), got string"),
        (
            json.dumps({"EventId": "x", "CloudTrailEvent": '{"eventVersion": "1.0", '}),
            "CloudTrailEvent is not valid JSON",
        ),
        (
            json.dumps({"EventId": "x", "CloudTrailEvent": "[1]"}),
            "CloudTrailEvent must hold a JSON object",
        ),
    ],
)
def test_values_that_are_not_records_are_rejected(line: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps(make_record()) + "\n" + line + "\n")
    events, rejects, _ = load(path)
    assert events.height == 1
    assert rejects.height >= 1
    assert all(reason in r for r in rejects.get_column("reason"))


def test_an_invalid_utf8_line_is_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    good = json.dumps(make_record()).encode()
    bad = json.dumps(make_record(userAgent="caf\u00e9"), ensure_ascii=False).encode()
    bad = bad.replace(b"\xc3\xa9", b"\xe9")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n" + good + b"\n")
    events, rejects, _ = load(path)
    assert events.height == 2
    assert _reasons(rejects) == {2: "not valid UTF-8 at byte " + str(bad.index(b"\xe9"))}


def test_invalid_utf8_inside_a_records_document_rejects_only_that_record(tmp_path: Path) -> None:
    records = _records()
    records[1]["userAgent"] = "caf\u00e9"
    data = json.dumps({"Records": records}, ensure_ascii=False).encode()
    path = tmp_path / "doc.json"
    path.write_bytes(data.replace("caf\u00e9".encode(), b"caf\xe9"))
    events, rejects, _ = load(path)
    assert events.height == 4
    assert _reasons(rejects) == {1: "not valid UTF-8"}
    assert "caf\ufffd" in rejects.get_column("raw")[0]


def test_a_truncated_records_document_keeps_the_complete_records(tmp_path: Path) -> None:
    text = json.dumps({"Records": _records()})
    path = tmp_path / "cut.json"
    path.write_text(text[: int(len(text) * 0.7)])
    events, rejects, _ = load(path)
    assert events.height >= 2
    assert rejects.height == 1
    assert rejects.get_column("line")[0] == events.height
    assert "truncated or damaged" in rejects.get_column("reason")[0]


def test_a_truncated_gzip_of_lines_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    records = [make_record(eventID=f"e{i}", requestParameters={"n": i}) for i in range(2000)]
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path = tmp_path / "cut.jsonl.gz"
    packed = gzip.compress(data)
    path.write_bytes(packed[: len(packed) // 2])
    events, rejects, _ = load(path)
    assert 0 < events.height < 2000
    assert rejects.height in (1, 2)  # the damage, and maybe a half line before it
    damage = rejects.row(rejects.height - 1, named=True)
    assert "compressed file is truncated or damaged" in damage["reason"]
    assert damage["line"] > events.height  # placed after the last line read


def test_a_truncated_gzip_records_file_keeps_the_records_before_the_damage(
    tmp_path: Path,
) -> None:
    records = [make_record(eventID=f"e{i}", requestParameters={"n": i}) for i in range(2000)]
    packed = gzip.compress(json.dumps({"Records": records}).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(packed[: len(packed) // 2])
    events, rejects, notes = load(path)
    assert 0 < events.height < 2000
    assert rejects.height == 1
    assert "truncated or damaged" in rejects.get_column("reason")[0]
    assert any("gzip stream truncated or damaged" in note for note in notes)


def test_an_empty_file_loads_nothing_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("\n")
    events, rejects, notes = load(path)
    assert (events.height, rejects.height) == (0, 0)
    assert notes == [f"{path}: empty file; nothing to load"]


def test_a_10_mb_field_loads_and_a_bad_record_keeps_capped_raw_text(tmp_path: Path) -> None:
    huge = "x" * 10_000_000
    good = make_record(requestParameters={"policy": huge})
    bad = make_record(eventTime=MISSING, requestParameters={"policy": huge})
    path = write_lines(tmp_path / "huge.jsonl", [good, bad])
    events, rejects, _ = load(path)
    assert events.height == 1
    assert attributes(events.row(0, named=True))["requestParameters"]["policy"] == huge
    assert rejects.height == 1
    assert len(rejects.get_column("raw")[0]) == MAX_RAW


def test_a_single_10_mb_record_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(make_record(requestParameters={"policy": "y" * 10_000_000})))
    events, rejects, _ = load(path)
    assert (events.height, rejects.height) == (1, 0)


def test_strict_mode_raises_with_file_and_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "s.jsonl", [make_record(), make_record(eventTime=12)])
    with pytest.raises(RejectedRecordError) as caught:
        load(path, strict=True)
    assert caught.value.file == str(path)
    assert caught.value.line == 2
    assert "eventTime" in caught.value.reason
    assert f"{path}:2" in str(caught.value)


# ---------------------------------------------------------------------------
# Detection


@pytest.mark.parametrize(
    "content",
    [
        '{"action": "repo.create", "actor": "octocat", "@timestamp": 1741611463961}\n',
        "timestamp,user,action\n2024-01-01T00:00:00Z,alice,created\n",
        # An S3 event notification also starts with "Records" but is not CloudTrail.
        '{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", '
        '"eventTime": "2024-01-01T00:00:00Z", "eventName": "ObjectCreated:Put"}]}',
        '[{"id": 1, "eventName": "x"}]',
    ],
)
def test_sniff_declines_other_json_and_csv(content: str, tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(content)
    assert not SOURCE.sniff(path, content.encode())


def test_sniff_accepts_an_empty_records_file(tmp_path: Path) -> None:
    content = b'{"Records": []}'
    assert SOURCE.sniff(tmp_path / "x.json", content)


# ---------------------------------------------------------------------------
# Real third-party samples

#: file (relative to realdata) → (records loaded, records rejected)
REAL_COUNTS: dict[str, tuple[int, int]] = {
    "elastic-aws-cloudtrail/test-assume-role-aws-service-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-assume-role-email-session-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-attach-user-policy-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-cloudtrail-digest-json.log": (0, 0),
    "elastic-aws-cloudtrail/test-console-login-json.log": (3, 0),
    "elastic-aws-cloudtrail/test-create-group-json.log": (4, 0),
    "elastic-aws-cloudtrail/test-create-key-pair-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-delete-bucket-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-get-caller-identity-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-put-object-json.log": (1, 0),
    "elastic-aws-cloudtrail/test-tls-details-json.log": (3, 0),
    "elastic-aws-cloudtrail/test-update-trail-json.log": (2, 0),
    "elastic-aws-cloudtrail/test-us-gov-arn.log": (1, 0),
    "elastic-aws-cloudtrail/test-user-authentication.log": (1, 0),
    "otrf-security-datasets/aws-ec2-proxy-s3-exfiltration/"
    "ec2_proxy_s3_exfiltration_2020-09-14011940.json": (103, 0),
    "trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json": (
        2,
        0,
    ),
    "trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz": (
        2,
        0,
    ),
    "trailscraper/events-for-smoke-test.json": (3, 0),
    "plaso-test-data/aws_cloudtrail.jsonl": (6, 0),
    # Panther's rule tests: some events are deliberately partial (no eventTime at all).
    "panther-analysis-tests/AWS.CloudTrail.jsonl": (431, 19),
}
PANTHER_REJECTED_LINES = [
    34, 35, 36, 37, 88, 313, 318, 319, 377, 378, 379, 380, 381, 431, 437, 439, 446, 447, 449,
]  # fmt: skip


def _stratus_files() -> list[str]:
    folder = REALDATA / "stratus-red-team-detonation-logs"
    if not folder.is_dir():
        return []
    return [f"stratus-red-team-detonation-logs/{p.name}" for p in sorted(folder.glob("*.json"))]


def _independent_count(path: Path) -> int:
    """Records in a file, counted without the adapter (SOURCES.md's counting rule)."""
    with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as fh:
        data = fh.read().decode("utf-8")
    stripped = data.lstrip()
    if stripped.startswith("["):
        return len(json.loads(data))
    if stripped.startswith("{\n") or stripped.startswith('{"Records"'):
        doc = json.loads(data)
        return len(doc["Records"]) if "Records" in doc else 1
    lines = [json.loads(line) for line in data.splitlines() if line.strip()]
    return sum(0 if "digestStartTime" in obj else 1 for obj in lines)


@needs_realdata
@pytest.mark.parametrize("name", [*REAL_COUNTS, *_stratus_files()])
def test_every_real_record_loads_or_is_rejected_with_a_reason(name: str) -> None:
    path = REALDATA / name
    events, rejects, _ = load(path)
    assert events.height + rejects.height == _independent_count(path)
    if name in REAL_COUNTS:
        assert (events.height, rejects.height) == REAL_COUNTS[name]
    else:  # stratus: real CloudTrail, every record loads
        assert rejects.height == 0
    assert all(reason.strip() for reason in rejects.get_column("reason"))
    assert events.get_column("event_id").null_count() == 0
    assert events.get_column("actor").null_count() == 0
    assert set(events.get_column("action")) <= set(ACTIONS)
    for event in events.iter_rows(named=True):
        ip = event["ip_address"]
        assert ip is None or ip_or_none(ip) == ip
        attrs = attributes(event)
        if "sourceIPAddress" in attrs:  # the original is kept whenever it is not the column
            assert attrs["sourceIPAddress"] != ip


@needs_realdata
def test_stratus_has_all_310_records() -> None:
    total = sum(load(REALDATA / name)[0].height for name in _stratus_files())
    assert total == 310


@needs_realdata
def test_panther_rejects_are_the_partial_events() -> None:
    _, rejects, _ = load(REALDATA / "panther-analysis-tests/AWS.CloudTrail.jsonl")
    assert sorted(rejects.get_column("line")) == PANTHER_REJECTED_LINES
    reasons = _reasons(rejects)
    assert reasons[313] == (
        "eventTime 'redacted' is not an ISO-8601 timestamp (like 2024-06-12T10:15:30Z)"
    )
    assert reasons[34].startswith("missing eventTime: not a CloudTrail event (keys: ")


@needs_realdata
def test_stratus_anonymised_ip_is_null_and_kept() -> None:
    name = "stratus-red-team-detonation-logs/aws.persistence.iam-backdoor-user.json"
    events, _, _ = load(REALDATA / name)
    event = events.row(0, named=True)
    assert event["ip_address"] is None
    assert attributes(event)["sourceIPAddress"] == "211.9.016.253"
    assert (event["actor"], event["action"], event["operation"]) == (
        "christophe",
        "created",
        "iam:CreateAccessKey",
    )


@needs_realdata
def test_federated_user_from_stratus() -> None:
    name = "stratus-red-team-detonation-logs/aws.persistence.sts-federation-token.json"
    events, _, _ = load(REALDATA / name)
    federated = events.filter(pl.col("actor").str.ends_with("/stratus_red_team"))
    assert federated.height == 1
    row = federated.row(0, named=True)
    assert row["actor"] == "stratus-red-team-user-federation-user/stratus_red_team"
    assert row["session_id"] == "ASIASTJKC5GCM7ZE6LUP"


@needs_realdata
def test_trailscraper_gzip_matches_plain() -> None:
    stem = "trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json"
    plain, _, _ = load(REALDATA / stem)
    packed, _, _ = load(REALDATA / (stem + ".gz"))
    assert plain.equals(packed)
    assert plain.get_column("actor").to_list() == [
        "someRole/AutoScalingDescribeHandlerSession",
        "config.amazonaws.com",
    ]


@needs_realdata
def test_plaso_lookup_events() -> None:
    path = REALDATA / "plaso-test-data/aws_cloudtrail.jsonl"
    events, _, _ = load(path)
    outer = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert events.get_column("event_id").to_list() == [e["EventId"] for e in outer]
    assert events.get_column("operation").to_list() == [
        f"{e['EventSource'].removesuffix('.amazonaws.com')}:{e['EventName']}" for e in outer
    ]
    for event, raw in zip(events.iter_rows(named=True), outer, strict=True):
        inner = json.loads(raw["CloudTrailEvent"])
        if inner["userIdentity"].get("type") == "IAMUser":
            assert event["actor"] == raw["Username"]


@needs_realdata
def test_realdata_digest_file_is_a_note() -> None:
    path = REALDATA / "elastic-aws-cloudtrail/test-cloudtrail-digest-json.log"
    events, rejects, notes = load(path)
    assert (events.height, rejects.height) == (0, 0)
    assert notes == [
        f"{path}: a CloudTrail digest file (integrity hashes of log files), not events; skipped"
    ]


@needs_realdata
def test_tls_details_saml_user_with_error_code_200() -> None:
    events, _, _ = load(REALDATA / "elastic-aws-cloudtrail/test-tls-details-json.log")
    saml = events.row(1, named=True)
    assert (saml["actor"], saml["actor_type"], saml["status"]) == (
        "some.user@my.company.com",
        "user",
        "success",
    )
    assert saml["ip_address"] == "81.2.69.142"
    assert attributes(saml)["sourceIPAddress"] == "81.2.69.142, 192.168.10.10"
    assert attributes(saml)["errorCode"] == "200"


def _elastic_pairs() -> list[str]:
    folder = REALDATA / "elastic-aws-cloudtrail"
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix("-expected.json") for p in folder.glob("*-expected.json"))


def _get(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@needs_realdata
@pytest.mark.parametrize("name", _elastic_pairs())
def test_agrees_with_elastic_expected_output(name: str) -> None:
    folder = REALDATA / "elastic-aws-cloudtrail"
    expected = json.loads((folder / f"{name}-expected.json").read_text())["expected"]
    events, rejects, _ = load(folder / name)
    assert rejects.height == 0
    # One expected document per input line, in order; some cover only a prefix of the log.
    assert 0 < len(expected) <= events.height
    for doc, event in zip(expected, events.iter_rows(named=True), strict=False):
        stamp = datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00"))
        ours = event["timestamp"]
        assert ours.replace(microsecond=ours.microsecond // 1000 * 1000) == stamp  # ms precision
        assert (event["status"] == "failed") == (_get(doc, "event.outcome") == "failure")
        assert event["account"] == _get(doc, "cloud.account.id")
        assert event["ip_address"] == _get(doc, "source.ip")
        user_name = _get(doc, "user.name")
        identity_type = _get(doc, "aws.cloudtrail.user_identity.type")
        if identity_type == "AssumedRole":
            # Elastic names the role; auditkit keeps the session too: "role/session".
            assert event["actor"].split("/")[0] == user_name
        elif user_name is not None:
            assert event["actor"] == user_name
        else:  # AWSService: Elastic has no user.name; auditkit names the service
            assert identity_type == "AWSService"
            assert event["actor"].endswith(".amazonaws.com")


@needs_realdata
@pytest.mark.parametrize(
    "name", ["test-api-request-events.log", "test-enterprise-audit-eventhub.log"]
)
def test_detect_does_not_pick_cloudtrail_for_github_logs(name: str) -> None:
    path = REALDATA / "elastic-github-audit" / name
    assert not SOURCE.sniff(path, sources.read_head(path))
    try:
        picked = sources.detect(path).name
    except SourceError:
        picked = None
    assert picked != "cloudtrail"


@needs_realdata
def test_detect_picks_cloudtrail_for_every_real_cloudtrail_file() -> None:
    for name in [*REAL_COUNTS, *_stratus_files()]:
        assert sources.detect(REALDATA / name).name == "cloudtrail", name


def test_request_parameters_keep_huge_integers_and_non_finite_numbers(tmp_path: Path) -> None:
    """Attributes are written fast (orjson), but never by rounding an integer beyond 64 bits
    to a float or writing NaN as null: those records take Python's json both ways."""
    records = [
        make_record(eventID="big", requestParameters={"id": 123456789012345678901234567890}),
        make_record(eventID="plain", requestParameters={"size": 1.5e-7, "n": 3}),
    ]
    path = write_lines(tmp_path / "odd.jsonl", records)
    text = path.read_text().replace('"n": 3', '"n": NaN')
    path.write_text(text)
    events, rejects, _ = load(path)
    assert rejects.is_empty()
    attributes = dict(zip(events["event_id"], events["attributes"], strict=True))
    assert '"id":123456789012345678901234567890' in attributes["big"]
    assert '"n":NaN' in attributes["plain"]
    assert json.loads(attributes["plain"])["requestParameters"]["size"] == 1.5e-7
