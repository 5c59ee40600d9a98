# -*- coding: utf-8 -*-
"""One error path: AWS errors carry the operation, the code, the request id and a hint; botocore's own parameter
checks name the module option to change."""

from botocore.exceptions import ClientError
from botocore.exceptions import ParamValidationError
from botocore.exceptions import WaiterError

from ansible_collections.trainkit.aws.plugins.module_utils.aws import explain
from ansible_collections.trainkit.aws.plugins.module_utils.aws import snake_case


def test_client_error_keeps_the_request_id():
    response = {
        "Error": {"Code": "DependencyViolation", "Message": "resource sg-1 has a dependent object"},
        "ResponseMetadata": {"RequestId": "5ad1c2a0-1111-2222-3333-444455556666", "HTTPStatusCode": 400},
    }
    code, operation, text, hint, request_id = explain(ClientError(response, "DeleteSecurityGroup"))
    assert (code, operation, request_id) == (
        "DependencyViolation",
        "DeleteSecurityGroup",
        response["ResponseMetadata"]["RequestId"],
    )
    assert "dependent object" in text and "delete that resource first" in hint


def test_request_id_from_headers_when_metadata_lacks_it():
    response = {
        "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
        "ResponseMetadata": {"HTTPHeaders": {"x-amz-request-id": "4442587FB7D0A2F9"}},
    }
    assert explain(ClientError(response, "PutObject"))[4] == "4442587FB7D0A2F9"


def test_param_validation_error_names_the_option():
    report = "Invalid value for parameter ProvisionedThroughputInMibps, value: 0.5, valid min value: 1.0"
    code, operation, text, hint, request_id = explain(ParamValidationError(report=report))
    assert code == "ParamValidationError" and operation is None and request_id is None
    assert "ProvisionedThroughputInMibps" in text
    assert "provisioned_throughput_in_mibps" in hint


def test_waiter_error_names_the_waiter():
    exc = WaiterError(name="SecurityGroupExists", reason="Max attempts exceeded", last_response={})
    code, operation, _text, hint, _rid = explain(exc)
    assert (code, operation) == ("WaiterTimeout", "SecurityGroupExists") and "wait_timeout" in hint


def test_snake_case():
    assert snake_case("ProvisionedThroughputInMibps") == "provisioned_throughput_in_mibps"
    assert snake_case("KeyId") == "key_id"
