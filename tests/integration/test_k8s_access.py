# -*- coding: utf-8 -*-
"""How the Kubernetes modules reach a cluster (module_utils/k8s_client on the official kubernetes client):
exec credential plugins, several KUBECONFIG files merged, a context switch, retries of 429/5xx, and a clear
error for a missing library. The cluster is the real local control plane."""

import base64
import json
import os
import stat
import subprocess
import sys
import threading

from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest
import yaml

from harness import unique

pytestmark = pytest.mark.k8s


def service_account_token(client, name):
    """A ServiceAccount in default, and a token for it; bound to cluster-admin when admin is wanted."""
    client.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": "default"}})
    _status, doc = client.request(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/{0}/token".format(name),
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
    )
    return doc["status"]["token"]


def split_kubeconfig(path):
    with open(path) as handle:
        config = yaml.safe_load(handle)
    return config["clusters"][0], config["users"][0]


def write(path, document):
    path.write_text(yaml.safe_dump(document))
    os.chmod(path, 0o600)
    return str(path)


def deployment(name):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "busybox"}]},
            },
        },
    }


def test_exec_plugin_merged_kubeconfigs_and_context_switch(ansible, local_k8s, tmp_path):
    admin = local_k8s.client()
    name = unique("acc")
    viewer_token = service_account_token(admin, name + "-viewer")  # no RBAC: may do nothing
    admin.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name + "-exec"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": name + "-exec", "namespace": "default"}],
        }
    )
    exec_token = service_account_token(admin, name + "-exec")
    cluster, admin_user = split_kubeconfig(local_k8s.kubeconfig)

    # an exec credential plugin, as EKS's `aws eks get-token` is one: it counts its calls
    plugin = tmp_path / "credential-plugin"
    calls = tmp_path / "plugin-calls"
    plugin.write_text(
        "#!{0}\nimport json\nopen({1!r}, 'a').write('x')\nprint(json.dumps({{'apiVersion': "
        "'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential', 'status': {{'token': {2!r}}}}}))\n".format(
            sys.executable, str(calls), exec_token
        )
    )
    os.chmod(plugin, stat.S_IRWXU)
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}}

    # file 1: the cluster and the users; file 2: the contexts and the current one
    users = write(
        tmp_path / "users.yaml",
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [
                {"name": "exec", "user": exec_user},
                {"name": "viewer", "user": {"token": viewer_token}},
                {"name": "admin", "user": admin_user["user"]},
            ],
        },
    )
    contexts = write(
        tmp_path / "contexts.yaml",
        {
            "apiVersion": "v1",
            "kind": "Config",
            "contexts": [
                {"name": "via-exec", "context": {"cluster": cluster["name"], "user": "exec"}},
                {"name": "viewer", "context": {"cluster": cluster["name"], "user": "viewer"}},
            ],
            "current-context": "via-exec",
        },
    )
    merged = {"KUBECONFIG": os.pathsep.join([users, contexts]), "K8S_AUTH_KUBECONFIG": ""}
    obj = deployment(name)

    applied = ansible.module("k8s_apply", {"definition": obj}, env=merged)
    assert applied.changed and not applied.failed, applied.output
    assert calls.read_text(), "the exec plugin gave the token"
    found = admin.get(obj)
    assert found["metadata"]["managedFields"][0]["manager"] == "trainkit"

    # the same files, another context: the viewer may not read it
    refused = ansible.module("k8s_apply", {"definition": obj, "context": "viewer"}, env=merged)
    assert refused.failed and "403" in refused["msg"] and "RBAC" in refused["msg"], refused["msg"]
    unknown = ansible.module("k8s_apply", {"definition": obj, "context": "nope"}, env=merged)
    assert unknown.failed and "Context 'nope' is not in kubeconfig" in unknown["msg"]
    assert "via-exec, viewer" in unknown["msg"]

    # a plugin that fails is an error naming it, not an anonymous request
    plugin.write_text("#!/bin/sh\necho 'no credentials' >&2\nexit 1\n")
    broken = ansible.module("k8s_apply", {"definition": obj}, env=merged)
    assert broken.failed and "exec credential plugin ({0}) gave no token".format(plugin) in broken["msg"], broken
    assert "and no client certificate" in broken["msg"]
    assert "system:anonymous" not in broken["msg"]

    gone = ansible.module(
        "k8s_apply",
        {"definition": obj, "state": "absent", "wait": True},
        env=dict(
            merged,
            KUBECONFIG=os.pathsep.join(
                [
                    write(
                        tmp_path / "admin.yaml",
                        {
                            "apiVersion": "v1",
                            "kind": "Config",
                            "clusters": [cluster],
                            "users": [admin_user],
                            "contexts": [
                                {"name": "a", "context": {"cluster": cluster["name"], "user": admin_user["name"]}}
                            ],
                            "current-context": "a",
                        },
                    )
                ]
            ),
        ),
    )
    assert gone.changed and not gone.failed, gone.output
    assert admin.get(obj) is None


def test_an_exec_plugin_that_answers_with_a_client_certificate(ansible, local_k8s, tmp_path):
    """The ExecCredential API lets a plugin answer with a client certificate and key instead of a token (Teleport's
    tsh does): the modules authenticate with them wherever the official client's load_kube_config() does - here a
    kubeconfig split over two KUBECONFIG files."""
    admin = local_k8s.client()
    cluster, admin_user = split_kubeconfig(local_k8s.kubeconfig)
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": base64.b64decode(admin_user["user"]["client-certificate-data"]).decode(),
            "clientKeyData": base64.b64decode(admin_user["user"]["client-key-data"]).decode(),
        },
    }
    plugin = tmp_path / "certificate-plugin"
    plugin.write_text("#!{0}\nprint({1!r})\n".format(sys.executable, json.dumps(credential)))
    os.chmod(plugin, stat.S_IRWXU)
    user = {"name": "tsh", "user": {"exec": {"apiVersion": credential["apiVersion"], "command": str(plugin)}}}
    files = [
        write(
            tmp_path / "cluster.yaml", {"apiVersion": "v1", "kind": "Config", "clusters": [cluster], "users": [user]}
        ),
        write(
            tmp_path / "context.yaml",
            {
                "apiVersion": "v1",
                "kind": "Config",
                "contexts": [{"name": "tsh", "context": {"cluster": cluster["name"], "user": "tsh"}}],
                "current-context": "tsh",
            },
        ),
    ]
    env = {"KUBECONFIG": os.pathsep.join(files), "K8S_AUTH_KUBECONFIG": ""}

    # the official client reads the same files and is let in
    check = (
        "from kubernetes import client, config\nconfig.load_kube_config()\n"
        "print(len(client.CoreV1Api().list_namespace().items))"
    )
    official = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, env=dict(os.environ, **env), check=False
    )
    assert official.returncode == 0 and int(official.stdout) > 0, official.stderr[-2000:]

    obj = deployment(unique("cert"))
    applied = ansible.module("k8s_apply", {"definition": obj}, env=env)
    assert applied.changed and not applied.failed, applied.output
    assert admin.get(obj)["metadata"]["managedFields"][0]["manager"] == "trainkit"
    removed = ansible.module("k8s_apply", {"definition": obj, "state": "absent", "wait": True}, env=env)
    assert removed.changed and not removed.failed, removed.output
    assert admin.get(obj) is None


class Flaky(BaseHTTPRequestHandler):
    """An API server that answers 503, then 429 with Retry-After, then the truth."""

    answers = []
    seen = []

    def do_GET(self):
        self.seen.append(self.path)
        status = self.answers.pop(0) if self.answers else 200
        payload = json.dumps({"gitVersion": "v1.34.4"} if status == 200 else {"message": "busy"}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_retries_busy_answers(tmp_path, local_k8s):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:{0}".format(server.server_address[1])
        config = write(
            tmp_path / "flaky.yaml",
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "flaky", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "flaky", "context": {"cluster": "flaky", "user": "u"}}],
                "current-context": "flaky",
            },
        )
        from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client

        Flaky.answers[:] = [503, 429]
        Flaky.seen[:] = []
        status, doc = Client(config).request("GET", "/version")
        assert status == 200 and doc["gitVersion"] == "v1.34.4"
        assert len(Flaky.seen) == 3, Flaky.seen

        Flaky.answers[:] = [503] * 10  # more than the retries: the error names the status
        Flaky.seen[:] = []
        try:
            Client(config, retries=2).request("GET", "/version")
            raise AssertionError("no error after the retries")
        except Exception as exc:  # K8sError
            assert "503" in str(exc)
        assert len(Flaky.seen) == 3
    finally:
        server.shutdown()


def test_a_missing_kubernetes_library_is_named(ansible, local_k8s):
    """A controller Python without the kubernetes client: the module says which package to install."""
    import shutil
    import subprocess

    import pytest

    python = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    probe = subprocess.run(
        [python or "false", "-c", "import yaml\ntry:\n import kubernetes\nexcept ImportError:\n print('ok')"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.stdout.strip() != "ok":
        pytest.skip("no system Python with PyYAML and without the kubernetes client here")
    result = ansible.module(
        "k8s_apply",
        {"kubeconfig": local_k8s.kubeconfig, "definition": deployment(unique("lib"))},
        extra_vars={"ansible_python_interpreter": python},
    )
    assert result.failed and "kubernetes" in result.get("msg", "") and "pip install" in result["msg"], result
