# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one AWS client layer of trainkit.aws.

Every module builds its clients here, so the same code talks to real AWS and to a local
AWS endpoint (``endpoint_url`` / ``AWS_ENDPOINT_URL``). Throttling is left to botocore's
``adaptive`` retry mode, waiting to botocore waiters or :func:`wait_for`, and every AWS
failure leaves through :meth:`AWSModule.fail_aws` with the operation, the error code and
a hint the user can act on.
"""

from __future__ import annotations

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.basic import missing_required_lib

try:
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
    from botocore.exceptions import ParamValidationError
    from botocore.exceptions import WaiterError

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without boto3
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc
    BotoCoreError = ClientError = WaiterError = ParamValidationError = Exception

USER_AGENT = "trainkit.aws/0.1.0"
DEFAULT_MAX_ATTEMPTS = 10

# Hints for error codes whose cause does not depend on the module.
ERROR_HINTS = {
    "AccessDenied": "the credentials in use lack permission for this call; grant it or use another profile",
    "AccessDeniedException": "the credentials in use lack permission for this call; grant it or use another profile",
    "UnauthorizedOperation": "the credentials in use lack permission for this call; grant it or use another profile",
    "InvalidClientTokenId": "the access key is not valid for this endpoint; check access_key/profile and endpoint_url",
    "UnrecognizedClientException": "the access key is not valid for this endpoint; check access_key/profile",
    "ExpiredToken": "the session token has expired; refresh the credentials",
    "ExpiredTokenException": "the session token has expired; refresh the credentials",
    "Throttling": "AWS kept throttling after every retry; raise max_attempts or run fewer tasks in parallel",
    "ThrottlingException": "AWS kept throttling after every retry; raise max_attempts or run fewer tasks in parallel",
    "RequestLimitExceeded": "AWS kept throttling after every retry; raise max_attempts or run fewer tasks in parallel",
    "DependencyViolation": "another resource still uses this one; delete that resource first",
    "LimitExceeded": "an account quota is exhausted; delete unused resources or ask AWS for a higher quota",
    "LimitExceededException": "an account quota is exhausted; delete unused resources or ask AWS for a higher quota",
    "BucketAlreadyExists": "the bucket name is taken by another account; S3 names are global, choose another name",
    "InvalidParameterValue": "a value sent to AWS was refused; check the module options",
    "MalformedPolicyDocument": "the policy document is not valid IAM policy JSON",
}


def aws_argument_spec():
    """Options shared by every AWS module (documented by the trainkit.aws.aws doc fragment)."""
    return dict(
        region=dict(type="str", aliases=["aws_region"], fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
        profile=dict(type="str", aliases=["aws_profile"], fallback=(env_fallback, ["AWS_PROFILE"])),
        access_key=dict(
            type="str",
            aliases=["aws_access_key_id", "aws_access_key"],
            no_log=False,
            fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"]),
        ),
        secret_key=dict(
            type="str",
            aliases=["aws_secret_access_key", "aws_secret_key"],
            no_log=True,
            fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"]),
        ),
        session_token=dict(
            type="str",
            aliases=["aws_session_token"],
            no_log=True,
            fallback=(env_fallback, ["AWS_SESSION_TOKEN"]),
        ),
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url"], fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
        aws_ca_bundle=dict(type="path", fallback=(env_fallback, ["AWS_CA_BUNDLE"])),
        validate_certs=dict(type="bool", default=True),
        max_attempts=dict(type="int", default=DEFAULT_MAX_ATTEMPTS),
    )


class TrainkitError(Exception):
    """A failure the module explains itself (not an AWS error), with an optional hint."""

    def __init__(self, msg, hint=None, **extra):
        super().__init__(msg)
        self.msg = msg
        self.hint = hint
        self.extra = extra


class AWSModule(AnsibleModule):
    """AnsibleModule with the shared AWS options, a client factory and one error path."""

    def __init__(self, argument_spec, **kwargs):
        spec = aws_argument_spec()
        spec.update(argument_spec)
        super().__init__(argument_spec=spec, **kwargs)
        if not HAS_BOTO3:
            self.fail_json(msg=missing_required_lib("boto3"), exception=str(BOTO3_IMPORT_ERROR))
        if self.params["max_attempts"] < 1:
            self.fail_json(msg="Invalid input, nothing was changed: max_attempts must be at least 1")
        if self.params.get("wait_timeout") is not None and self.params["wait_timeout"] < 1:
            self.fail_json(
                msg="Invalid input, nothing was changed: wait_timeout must be at least 1 second, not {0}".format(
                    self.params["wait_timeout"]
                )
            )
        self._session = None
        self._clients = {}

    # -- clients ---------------------------------------------------------
    @property
    def session(self):
        if self._session is None:
            p = self.params
            try:
                self._session = boto3.session.Session(
                    profile_name=p["profile"],
                    aws_access_key_id=p["access_key"],
                    aws_secret_access_key=p["secret_key"],
                    aws_session_token=p["session_token"],
                    region_name=p["region"],
                )
            except botocore.exceptions.ProfileNotFound as exc:
                self.fail_json(msg=str(exc), hint="set profile to one in ~/.aws/config or unset AWS_PROFILE")
        return self._session

    @property
    def region(self):
        """The region in use; fails clearly (before any call) when none is configured."""
        region = self.session.region_name
        if not region:
            self.fail_json(
                msg="No AWS region is set.",
                hint="set the region option, AWS_REGION, or a region in the profile",
            )
        return region

    def client(self, service, region=None):
        """A client of ``service`` in the module's region, or in ``region`` (the Price List API has few)."""
        key = (service, region)
        if key not in self._clients:
            p = self.params
            verify = p["aws_ca_bundle"] if p["aws_ca_bundle"] else p["validate_certs"]
            config = Config(
                retries={"mode": "adaptive", "max_attempts": p["max_attempts"]},
                user_agent_extra=USER_AGENT,
            )
            self._clients[key] = self.session.client(
                service,
                region_name=region or self.region,
                endpoint_url=p["endpoint_url"] or None,
                verify=verify,
                config=config,
            )
        return self._clients[key]

    # -- the flow every module shares ---------------------------------------
    def fail_on_problems(self, problems):
        """Fail before any AWS call when validation found problems, listing all of them."""
        if problems:
            self.fail_json(msg="Invalid input, nothing was changed: " + "; ".join(problems), problems=problems)

    def run(self, ensure_present, ensure_absent, what, *args, **kwargs):
        """Dispatch on ``state`` and exit with the result (and the diff in diff mode).

        ``ensure_present``/``ensure_absent`` take ``(module, *args)`` and return
        ``(changed, before, after, result)``. Every AWS error leaves through :meth:`fail_aws`, with the hint
        ``hint_for(exc)`` returns when one is given.
        """
        hint_for = kwargs.pop("hint_for", None)
        state = self.params["state"]
        try:
            ensure = ensure_present if state == "present" else ensure_absent
            changed, before, after, result = ensure(self, *args)
        except (ClientError, BotoCoreError, TrainkitError) as exc:
            hint = hint_for(exc) if hint_for else None
            self.fail_aws(exc, msg="Failed to make {0} {1}.".format(what, state), hint=hint)
        if self._diff:
            result = dict(result, diff={"before": before, "after": after})
        self.exit_json(changed=changed, **result)

    # -- errors ----------------------------------------------------------
    def fail_aws(self, exc, msg=None, hint=None, **extra):
        """Fail with the AWS operation, the error code and a hint, for any boto error."""
        if isinstance(exc, TrainkitError):
            merged = dict(exc.extra)
            merged.update(extra)
            hint = exc.hint or hint
            text = "{0} Hint: {1}".format(exc.msg, hint) if hint else exc.msg
            self.fail_json(msg=text, hint=hint, **merged)
        code, operation, text, hint, request_id = explain(exc, hint)
        parts = [msg] if msg else []
        parts.append("{0}{1}: {2}".format(operation or "AWS call", " failed with " + code if code else "", text))
        if request_id:
            parts.append("(request id {0})".format(request_id))
        if hint:
            parts.append("Hint: " + hint)
        self.fail_json(
            msg=" ".join(parts), error_code=code, operation=operation, request_id=request_id, hint=hint, **extra
        )


def undo(module, what, *steps):
    """Remove what a failed run created, step by step; a step that fails is reported, not raised, so the error
    that made the run fail is the one the user sees."""
    for step in steps:
        try:
            step()
        except (ClientError, BotoCoreError, TrainkitError) as exc:
            module.warn("Could not remove {0} created by this failed run ({1}); run state=absent.".format(what, exc))
            return


def explain(exc, hint=None):
    """(error code, operation, text, hint, request id) of any boto error, for one error path."""
    request_id = None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        operation = exc.operation_name
        text = error.get("Message") or str(exc)
        hint = hint or ERROR_HINTS.get(code)
        request_id = request_id_of(exc.response)
    elif isinstance(exc, WaiterError):
        code = "WaiterTimeout"
        operation = exc.kwargs.get("name")
        text = str(exc)
        request_id = request_id_of(exc.last_response)
        hint = hint or "the resource did not reach the wanted state in time; raise wait_timeout or look at it in AWS"
    elif isinstance(exc, ParamValidationError):
        # botocore refused the request before sending it: name the module option behind the AWS parameter
        code = "ParamValidationError"
        operation = None
        params = sorted(set(re.findall(r"parameter ([A-Za-z0-9_.\[\]]+)", str(exc))))
        options = [snake_case(p.split(".")[-1].split("[")[0]) for p in params]
        text = "AWS would refuse the value sent as {0}: {1}".format(
            ", ".join(params) or "a parameter", str(exc).replace("\n", " ")
        )
        hint = hint or "change the module option {0} (the value passed on to AWS as {1})".format(
            " / ".join(sorted(set(options))) or "that sets it", ", ".join(params) or "that parameter"
        )
    elif isinstance(exc, BotoCoreError):
        code = type(exc).__name__
        operation = None
        text = str(exc)
        if hint is None and code in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
            hint = "the AWS endpoint cannot be reached; check endpoint_url/AWS_ENDPOINT_URL, region and network"
        if hint is None and code in ("NoCredentialsError", "PartialCredentialsError"):
            hint = "no AWS credentials found; set access_key/secret_key, a profile, or AWS_* variables"
    else:
        code = type(exc).__name__
        operation = None
        text = str(exc)
    return code, operation, text, hint, request_id


def snake_case(name):
    """'ProvisionedThroughputInMibps' -> 'provisioned_throughput_in_mibps' (how module options name AWS fields)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def request_id_of(response):
    """The request id AWS gave a response (what AWS support asks for), or None."""
    metadata = (response or {}).get("ResponseMetadata") or {}
    headers = metadata.get("HTTPHeaders") or {}
    return metadata.get("RequestId") or headers.get("x-amzn-requestid") or headers.get("x-amz-request-id")


# Check mode on a resource that does not exist yet returns ids like "vpc-(known after apply)", so that later
# tasks of a --check run can go on; modules given such an id make no AWS call with it.
PENDING = "(known after apply"


def placeholder(prefix="", detail=None):
    """A clear stand-in for an id AWS assigns on creation: placeholder('vpc-') -> 'vpc-(known after apply)',
    placeholder('subnet-', '172.20.1.0/24') -> 'subnet-(known after apply: 172.20.1.0/24)' (distinct per item)."""
    return prefix + PENDING + (": {0})".format(detail) if detail else ")")


def is_placeholder(value):
    return isinstance(value, str) and PENDING in value


def error_code(exc):
    """The AWS error code of a ClientError, or None."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def is_not_found(exc, *codes):
    """True when exc is a ClientError with one of the given (not-found style) codes."""
    return error_code(exc) in codes


def paginate(client, operation, result_key=None, **kwargs):
    """Every page of a paginated call, merged; optionally only one result key."""
    result = client.get_paginator(operation).paginate(**kwargs).build_full_result()
    if result_key is None:
        return result
    return result.get(result_key, [])


def wait_with_waiter(client, waiter_name, timeout, delay=5, **kwargs):
    """Run a botocore waiter within ``timeout`` seconds (polls at most every ``delay`` seconds)."""
    delay = max(1, min(delay, timeout))
    attempts = max(1, int(timeout // delay) + 1)
    client.get_waiter(waiter_name).wait(WaiterConfig={"Delay": delay, "MaxAttempts": attempts}, **kwargs)


def wait_for(predicate, timeout, what, delay=1.0, max_delay=10.0):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` seconds pass.

    The one polling helper for waits that have no botocore waiter. The first check is immediate,
    the delay doubles up to ``max_delay``; on timeout it raises TrainkitError naming ``what``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TrainkitError(
                "Timed out after {0}s waiting for {1}.".format(timeout, what),
                hint="raise wait_timeout, or look at the resource in AWS",
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, max_delay)


def wait_visible(call, timeout, what, not_found, ready=None, **kwargs):
    """Call ``call(**kwargs)`` until AWS stops answering with a ``not_found`` code (and ``ready(response)`` holds).

    AWS is eventually consistent: a resource just created may be "not found" by the next calls that name it.
    For resources whose botocore waiter lacks the not-found acceptor (subnets, route tables) or names the wrong
    code (``internet_gateway_exists`` expects ``InvalidInternetGateway.NotFound``; EC2 answers
    ``InvalidInternetGatewayID.NotFound``). Returns the last response.
    """

    def check():
        try:
            response = call(**kwargs)
        except ClientError as exc:
            if error_code(exc) in not_found:
                return None
            raise
        return response if ready is None or ready(response) else None

    return wait_for(check, timeout, what, delay=0.5, max_delay=5.0)


def account_id(module):
    """The account id of the credentials in use (STS GetCallerIdentity)."""
    return module.client("sts").get_caller_identity()["Account"]
