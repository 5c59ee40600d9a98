# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS Price List API (pricing:GetProducts) for the local AWS endpoint, over a small price list.

moto does not serve the Price List API. This layer answers GetProducts the way AWS does - FormatVersion aws_v1, each
product a JSON string with its attributes and its OnDemand terms - for the products in PRODUCTS, filtered by every
TERM_MATCH filter of the request (a field is a product attribute, or productFamily). The prices are of the order of
AWS's us-west-2 on-demand list prices, for the cost estimate's tests: they are fixtures, not a source of prices
(trainkit.aws.cost_estimate reads the real Price List on AWS).
"""

import hashlib
import json

from local_quotas import load
from local_quotas import reply

REGION = "us-west-2"
LOCATION = "US West (Oregon)"
PREFIX = "USW2"


def _instance(instance_type, usd):
    return (
        "AmazonEC2",
        "Compute Instance",
        {
            "instanceType": instance_type,
            "operatingSystem": "Linux",
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
            "licenseModel": "No License required",
            "usagetype": "{0}-BoxUsage:{1}".format(PREFIX, instance_type),
        },
        "Hrs",
        usd,
    )


PRODUCTS = [
    _instance("t2.medium", "0.0464000000"),
    _instance("m5.large", "0.0960000000"),
    _instance("m5.xlarge", "0.1920000000"),
    _instance("g4dn.xlarge", "0.5260000000"),
    _instance("g5.xlarge", "1.0060000000"),
    _instance("g6.xlarge", "0.8048000000"),
    _instance("p4d.24xlarge", "32.7726000000"),
    (
        "AmazonEC2",
        "NAT Gateway",
        {"usagetype": PREFIX + "-NatGateway-Hours", "group": "NGW:NatGateway"},
        "Hrs",
        "0.045",
    ),
    ("AmazonEC2", "NAT Gateway", {"usagetype": PREFIX + "-NatGateway-Bytes", "group": "NGW:NatGateway"}, "GB", "0.045"),
    ("AmazonEKS", "Compute", {"usagetype": PREFIX + "-AmazonEKS-Hours:perCluster"}, "Hrs", "0.10"),
    (
        "AmazonFSx",
        "Storage",
        {"fileSystemType": "Lustre", "deploymentOption": "Scratch_2", "usagetype": PREFIX + "-Scratch2-Storage"},
        "GB-Mo",
        "0.140",
    ),
    (
        "AmazonFSx",
        "Storage",
        {
            "fileSystemType": "Lustre",
            "deploymentOption": "Persistent_1",
            "throughputCapacity": "50",
            "usagetype": PREFIX + "-Persistent50-Storage",
        },
        "GB-Mo",
        "0.145",
    ),
    (
        "AmazonEFS",
        "Storage",
        {"storageClass": "General Purpose", "usagetype": PREFIX + "-TimedStorage-ByteHrs"},
        "GB-Mo",
        "0.30",
    ),
]


def document(service_code, family, attributes, unit, usd):
    attributes = dict(attributes, regionCode=REGION, location=LOCATION, servicecode=service_code)
    sku = hashlib.sha256(json.dumps([service_code, family, attributes], sort_keys=True).encode()).hexdigest()[:16]
    sku = sku.upper()
    return {
        "product": {"productFamily": family, "attributes": attributes, "sku": sku},
        "serviceCode": service_code,
        "terms": {
            "OnDemand": {
                sku
                + ".JRTCKXETXF": {
                    "priceDimensions": {
                        sku
                        + ".JRTCKXETXF.6YS6EN2CT7": {
                            "unit": unit,
                            "pricePerUnit": {"USD": usd},
                            "description": "${0} per {1}".format(usd, unit),
                        }
                    },
                    "sku": sku,
                    "offerTermCode": "JRTCKXETXF",
                }
            }
        },
        "version": "20261201000000",
        "publicationDate": "2026-12-01T00:00:00Z",
    }


def matches(doc, filters):
    for item in filters:
        if item.get("Type", "TERM_MATCH") != "TERM_MATCH":
            return False
        field, value = item.get("Field"), item.get("Value")
        have = doc["product"]["productFamily"] if field == "productFamily" else doc["product"]["attributes"].get(field)
        if have is None or str(have).lower() != str(value).lower():
            return False
    return True


class LocalPrices:
    def __init__(self):
        self.documents = [document(*p) for p in PRODUCTS]

    def serves(self, service, operation):
        return service == "pricing" and operation == "GetProducts"

    def answer(self, service, operation, environ, body, request_id):
        if not self.serves(service, operation):
            return None
        params = load(body)
        found = [
            json.dumps(d)
            for d in self.documents
            if d["serviceCode"] == params.get("ServiceCode") and matches(d, params.get("Filters") or [])
        ]
        return reply(200, {"FormatVersion": "aws_v1", "PriceList": found}, request_id)
