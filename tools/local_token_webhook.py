# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local control plane's token webhook: EKS-style bearer tokens (``aws eks get-token``) authenticate.

    python tools/local_token_webhook.py --port N      # started by tools/local-k8s, never by hand

An EKS token is ``k8s-aws-v1.`` + the base64url of a presigned STS ``GetCallerIdentity`` URL whose signature covers
the ``x-k8s-aws-id`` header (the cluster's name). Like aws-iam-authenticator, the webhook checks the URL's form and
age, then sends the request, and STS answers with the caller's ARN (AWS only for a good signature; moto, the local
endpoint, does not check signatures). Only a URL on a loopback address is sent (the local AWS endpoint); any other
is refused without a connection. The identity is mapped as EKS maps a cluster's creator: user name the ARN, group
``system:masters``.
"""

import argparse
import base64
import datetime
import ipaddress
import json
import re
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

PREFIX = "k8s-aws-v1."
MAX_AGE = datetime.timedelta(minutes=15)  # aws-iam-authenticator's limit


class Refused(Exception):
    pass


def loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def presigned_url(token):
    if not token.startswith(PREFIX):
        raise Refused("not an EKS token")
    encoded = token[len(PREFIX) :]
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Refused("token is not base64url")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    if parts.scheme not in ("http", "https") or query.get("Action") != "GetCallerIdentity":
        raise Refused("token is not a presigned GetCallerIdentity URL")
    if "x-k8s-aws-id" not in query.get("X-Amz-SignedHeaders", "").split(";"):
        raise Refused("the signature does not cover x-k8s-aws-id")
    try:
        signed = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except (KeyError, ValueError):
        raise Refused("no X-Amz-Date")
    if datetime.datetime.now(datetime.timezone.utc) - signed > MAX_AGE:
        raise Refused("token expired")
    if not loopback(parts.hostname or ""):
        raise Refused("STS endpoint {0} is not the local AWS endpoint".format(parts.hostname))
    return url


def identity(url, cluster):
    request = urllib.request.Request(url, headers={"x-k8s-aws-id": cluster or "", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise Refused("STS refused the token: {0}".format(exc))
    try:
        result = json.loads(body)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
    except (ValueError, KeyError, TypeError):
        result = dict(re.findall(r"<(Arn|Account|UserId)>([^<]*)</", body))
    if not result.get("Arn"):
        raise Refused("STS gave no identity")
    return result


def review(document):
    token = (document.get("spec") or {}).get("token", "")
    audiences = (document.get("spec") or {}).get("audiences")
    answer = {"apiVersion": document.get("apiVersion", "authentication.k8s.io/v1"), "kind": "TokenReview"}
    try:
        url = presigned_url(token)
        cluster = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("x-k8s-aws-id", [""])[0]
        who = identity(url, cluster)
    except Refused as exc:
        answer["status"] = {"authenticated": False, "error": str(exc)}
        return answer
    answer["status"] = {
        "authenticated": True,
        "user": {
            "username": who["Arn"],
            "uid": "aws-iam-authenticator:{0}:{1}".format(who.get("Account", ""), who.get("UserId", "")),
            "groups": ["system:masters"],
            "extra": {"arn": [who["Arn"]], "accountId": [who.get("Account", "")]},
        },
    }
    if audiences:
        answer["status"]["audiences"] = audiences
    return answer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            document = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.send_error(400)
            return
        payload = json.dumps(review(document)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt, *args):
        sys.stderr.write("token-webhook: " + fmt % args + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
