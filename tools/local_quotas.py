# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service Quotas for the local AWS endpoint: GetServiceQuota and GetAWSDefaultServiceQuota of the quotas a training
setup needs (plugins/module_utils/quotas.py names them), with values a realism profile sets.

moto serves Service Quotas for the vpc service code only, and answers GetServiceQuota for ec2 with
NoSuchResourceException, so the capacity preflight could never see a vCPU quota. This layer answers for the codes
below, as AWS does (the answer's shape: botocore's service-quotas model); any other code is NoSuchResourceException.

The applied values are an account that has run GPU work before - enough for the local inventory's node groups and
network - since a new account's defaults (0 vCPUs of G and P instances) would stop every rehearsal. A profile's
``quotas`` key sets any of them: ``{"quotas": {"ec2/L-DB2E81BA": 0}}`` is an account with no G-instance quota.
GetAWSDefaultServiceQuota answers AWS's published default for a new account.
"""

import json

from local_eks import region_of  # the region of a request's credential scope

SERVICE_NAMES = {
    "ec2": "Amazon Elastic Compute Cloud (Amazon EC2)",
    "vpc": "Amazon Virtual Private Cloud (Amazon VPC)",
    "eks": "Amazon Elastic Kubernetes Service (Amazon EKS)",
}

# "service/code": (quota name, AWS default for a new account, applied value here)
QUOTAS = {
    "ec2/L-1216C47A": ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 5.0, 1152.0),
    "ec2/L-34B43A08": ("All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 5.0, 1152.0),
    "ec2/L-DB2E81BA": ("Running On-Demand G and VT instances", 0.0, 64.0),
    "ec2/L-3819A6DF": ("All G and VT Spot Instance Requests", 0.0, 64.0),
    "ec2/L-417A185B": ("Running On-Demand P instances", 0.0, 192.0),
    "ec2/L-7212CCBC": ("All P Spot Instance Requests", 0.0, 192.0),
    "ec2/L-2C3B7624": ("Running On-Demand Trn instances", 0.0, 128.0),
    "ec2/L-6B0D517C": ("All Trn Spot Instance Requests", 0.0, 128.0),
    "ec2/L-1945791B": ("Running On-Demand Inf instances", 0.0, 64.0),
    "ec2/L-B5D1601B": ("All Inf Spot Instance Requests", 0.0, 64.0),
    "ec2/L-6E869C2A": ("Running On-Demand DL instances", 0.0, 96.0),
    "ec2/L-74FC7D96": ("Running On-Demand F instances", 0.0, 64.0),
    "ec2/L-7295265B": ("Running On-Demand X instances", 0.0, 64.0),
    "ec2/L-F7808C92": ("Running On-Demand HPC instances", 0.0, 64.0),
    "ec2/L-43DA4232": ("Running On-Demand High Memory instances", 0.0, 448.0),
    "ec2/L-0263D0A3": ("EC2-VPC Elastic IPs", 5.0, 5.0),
    "vpc/L-F678F1CE": ("VPCs per Region", 5.0, 5.0),
    "vpc/L-FE5A380F": ("NAT gateways per Availability Zone", 5.0, 5.0),
    "eks/L-1194D53C": ("Clusters", 100.0, 100.0),
}
OPERATIONS = ("GetServiceQuota", "GetAWSDefaultServiceQuota")


def check_profile(quotas):
    """The profile's ``quotas`` as {"service/code": float}; raises ValueError for an unknown code or a bad value."""
    out = {}
    for key, value in (quotas or {}).items():
        if key not in QUOTAS:
            raise ValueError("quotas.{0}: not a quota the local endpoint serves ({1})".format(key, ", ".join(QUOTAS)))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError("quotas.{0}: must be a number of at least 0, not {1!r}".format(key, value))
        out[key] = float(value)
    return out


class LocalQuotas:
    def __init__(self, realism):
        self.applied = dict((key, entry[2]) for key, entry in QUOTAS.items())
        self.applied.update(realism.profile.get("quotas") or {})

    def serves(self, service, operation):
        return service == "service-quotas" and operation in OPERATIONS

    def answer(self, service, operation, environ, body, request_id):
        if not self.serves(service, operation):
            return None
        params = load(body)
        key = "{0}/{1}".format(params.get("ServiceCode", ""), params.get("QuotaCode", ""))
        if key not in QUOTAS:
            return error(
                "NoSuchResourceException",
                "The request failed because the specified service does not exist (or has no quota {0}).".format(key),
                request_id,
            )
        service_code, quota_code = key.split("/")
        name, default, _applied = QUOTAS[key]
        region = region_of(environ)
        quota = {
            "ServiceCode": service_code,
            "ServiceName": SERVICE_NAMES[service_code],
            "QuotaArn": "arn:aws:servicequotas:{0}:123456789012:{1}/{2}".format(region, service_code, quota_code),
            "QuotaCode": quota_code,
            "QuotaName": name,
            "Value": default if operation == "GetAWSDefaultServiceQuota" else self.applied[key],
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }
        return reply(200, {"Quota": quota}, request_id)


def load(body):
    """A JSON-protocol request's parameters ({} for none or for a body that is not JSON)."""
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def reply(status, document, request_id):
    """(status line, headers, payload) of a JSON-protocol (application/x-amz-json-1.1) answer."""
    payload = json.dumps(document).encode()
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
    return "{0} {1}".format(status, "OK" if status == 200 else "Bad Request"), headers, payload


def error(code, message, request_id):
    return reply(400, {"__type": code, "message": message}, request_id)
