# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes access on the official ``kubernetes`` client: configuration, authentication, transport, discovery.

The client's own kubeconfig loader does the configuration: several ``KUBECONFIG`` files merged, the chosen
``context``, client certificates, tokens and ``exec`` credential plugins (``aws eks get-token``) with their
refresh; in a pod without a kubeconfig, the in-cluster service account. On top of it: the cluster's
``proxy-url`` (and ``HTTPS_PROXY``/``NO_PROXY``), pooled connections, and retries of 429 and 5xx answers
(honouring ``Retry-After``). The verbs (k8s_verbs) and waits (k8s_waits) use only :meth:`Transport.request`,
:meth:`Transport.open_stream`, :meth:`Transport.resource` and :meth:`Transport.path`.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request

from urllib.parse import quote
from urllib.parse import urlencode

try:
    import urllib3
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader
    from kubernetes.config.kube_config import KubeConfigMerger

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

NOT_SERVED = "NotServed"  # K8sError.reason when discovery does not know an apiVersion/kind (e.g. no CRD)
RETRY_STATUSES = (429, 500, 502, 503, 504)
MISSING_LIBRARY = (
    "The Python library 'kubernetes' (the official Kubernetes client) is required on the controller: "
    "pip install 'kubernetes>=30.1,<38' (see the collection's requirements.txt)"
)


class K8sError(Exception):
    """An API error: HTTP status, the API's reason and message, and a hint for the user."""

    def __init__(self, msg, status=None, reason=None, hint=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.reason = reason
        self.hint = hint


def hint_for(status, reason):
    if status == 401:
        return "the credentials in the kubeconfig are not accepted; refresh them (for EKS: aws eks get-token works?)"
    if status == 403:
        return "the kubeconfig's user may not do this; grant it with RBAC or use another context"
    if status == 409 and reason == "Conflict":
        return "another field manager owns these fields; set force_conflicts: true to take them over"
    if status == 422:
        return "the server rejected the object's content; fix the fields the message names"
    return None


def kubeconfig_paths(kubeconfig=None):
    """The kubeconfig files to merge: the given one(s), else $KUBECONFIG's, else ~/.kube/config."""
    given = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [os.path.expanduser(p) for p in given.split(os.pathsep) if p]


def plain(node):
    """The merged kubeconfig (ConfigNodes all the way down) as plain dicts and lists."""
    value = getattr(node, "value", node)
    if isinstance(value, dict):
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def in_cluster():
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )


def proxy_of(config_dict, context_name, server):
    """The proxy for the server: the cluster's proxy-url, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY names it."""
    contexts = dict((c["name"], c.get("context") or {}) for c in config_dict.get("contexts") or [])
    cluster_name = contexts.get(context_name or config_dict.get("current-context"), {}).get("cluster")
    clusters = dict((c["name"], c.get("cluster") or {}) for c in config_dict.get("clusters") or [])
    explicit = clusters.get(cluster_name, {}).get("proxy-url")
    if explicit:
        return explicit
    host = urllib.request.urlparse(server).hostname or ""
    if urllib.request.proxy_bypass_environment(host):
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(urllib.request.urlparse(server).scheme)


def auth_headers(configuration):
    """The headers the configuration authenticates with (a bearer token), from its public auth_settings(), which runs
    the kubeconfig loader's refresh of exec plugins' and expiring tokens first. The client's REST layer is not used:
    its signatures change between releases (37 added arguments to ApiClient.update_params_for_auth and took
    query_params out of RESTClientObject.request)."""
    headers = {}
    for setting in configuration.auth_settings().values():
        if setting.get("in") == "header" and setting.get("value"):
            headers[setting["key"]] = setting["value"]
    return headers


def pool_of(configuration, retry):
    """A urllib3 pool with the configuration's TLS settings, client certificate and proxy."""
    args = {
        "cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE,
        "retries": retry,
        "maxsize": 4,
    }
    for key, value in (
        ("ca_certs", configuration.ssl_ca_cert),
        ("cert_file", configuration.cert_file),
        ("key_file", configuration.key_file),
        ("server_hostname", getattr(configuration, "tls_server_name", None)),
    ):
        if value:
            args[key] = value
    if getattr(configuration, "assert_hostname", None) is not None:
        args["assert_hostname"] = configuration.assert_hostname
    if configuration.proxy:
        return urllib3.ProxyManager(configuration.proxy, proxy_headers=configuration.proxy_headers, **args)
    return urllib3.PoolManager(**args)


class Transport:
    """One API server, as a kubeconfig (and context) or the pod's service account describes it."""

    def __init__(self, kubeconfig=None, context=None, timeout=30, retries=5):
        if not HAS_KUBERNETES:
            raise K8sError(MISSING_LIBRARY, hint="install it where ansible-playbook runs (the controller)")
        self.timeout = timeout
        configuration = k8s_client.Configuration()
        paths = kubeconfig_paths(kubeconfig)
        existing = [p for p in paths if os.path.exists(p)]
        self.namespace = "default"
        if not existing and not kubeconfig and in_cluster():
            k8s_config.load_incluster_config(client_configuration=configuration)
            with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as handle:
                self.namespace = handle.read().strip() or "default"
            config_dict = {}
        else:
            if not existing:
                raise K8sError(
                    "Cannot read kubeconfig {0}: no such file.".format(os.pathsep.join(paths)),
                    hint="set kubeconfig to the file tools/local-k8s start printed, or the cluster's",
                )
            try:
                merger = KubeConfigMerger(os.pathsep.join(existing))
                config_dict = plain(merger.config)
                contexts = sorted(c["name"] for c in config_dict.get("contexts") or [])
                if context and context not in contexts:
                    raise K8sError(
                        "Context {0!r} is not in kubeconfig {1}.".format(context, os.pathsep.join(existing)),
                        hint="use one of: " + ", ".join(contexts),
                    )
                loader = KubeConfigLoader(
                    config_dict=merger.config, active_context=context, config_persister=merger.save_changes
                )
                loader.load_and_set(configuration)
            except (ConfigException, KeyError, TypeError, ValueError) as exc:
                raise K8sError(
                    "Cannot use kubeconfig {0}: {1}".format(os.pathsep.join(existing), exc),
                    hint="check its current-context (or the context option), cluster and user entries",
                )
            active = context or config_dict.get("current-context")
            user_name = None
            for entry in config_dict.get("contexts") or []:
                if entry["name"] == active:
                    self.namespace = (entry.get("context") or {}).get("namespace") or "default"
                    user_name = (entry.get("context") or {}).get("user")
            users = dict((u["name"], u.get("user") or {}) for u in config_dict.get("users") or [])
            plugin = users.get(user_name, {}).get("exec")
            certificate = configuration.cert_file and configuration.key_file
            if plugin and not certificate and not auth_headers(configuration):
                # the client's loader only logs a failed plugin and goes on anonymous: say so instead. A plugin
                # answers with a token or with a client certificate and key (ExecCredential status; Teleport's tsh
                # does the latter), which the loader puts in cert_file and key_file.
                raise K8sError(
                    "The kubeconfig's exec credential plugin ({0}) gave no token and no client certificate.".format(
                        " ".join([plugin.get("command", "?")] + list(plugin.get("args") or []))
                    ),
                    hint="run that command by hand: it needs its own credentials (for EKS: the aws CLI on PATH "
                    "and AWS credentials in the environment or the profile the kubeconfig names)",
                )
        proxy = proxy_of(config_dict, context, configuration.host)
        if proxy:
            configuration.proxy = proxy
        retry = urllib3.Retry(
            total=retries,
            connect=retries,
            read=0,  # a request that reached the server is not sent again blindly
            status=retries,
            backoff_factor=0.5,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # apply (PATCH), delete and reads are all idempotent here
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.configuration = configuration
        self.server = configuration.host  # the API server's URL
        url = urllib.request.urlparse(self.server)
        self.host, self.port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.ca_file = configuration.ssl_ca_cert  # a file the loader wrote for certificate-authority-data
        self.pool = pool_of(configuration, retry)
        self._discovery = {}

    def close(self):
        self.pool.clear()

    # -- HTTP --------------------------------------------------------------------------------
    def _headers(self, content_type=None):
        headers = {"Accept": "application/json", "Content-Type": content_type or "application/json"}
        headers.update(auth_headers(self.configuration))  # refreshes exec/expiring tokens
        return headers

    def _url(self, path, query):
        return self.server + path + ("?" + urlencode(list(query.items())) if query else "")

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        """(status, decoded JSON) for one call; raises K8sError for errors other than 404 on GET/DELETE."""
        try:
            response = self.pool.request(
                method,
                self._url(path, query),
                body=None if body is None else body if isinstance(body, (bytes, str)) else json.dumps(body),
                headers=self._headers(content_type),
                timeout=urllib3.Timeout(total=self.timeout),
            )
            status, raw = response.status, response.data
        except (urllib3.exceptions.HTTPError, OSError, ConfigException) as exc:
            raise K8sError(
                "Cannot reach the API server {0}: {1}".format(self.server, exc),
                hint="is the cluster running? (tools/local-k8s start for the local one)",
            )
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {"message": raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)}
        if status == 404 and method in ("GET", "DELETE"):
            return 404, None
        if status >= 400:
            raise K8sError(
                "{0} {1} failed with {2} {3}: {4}".format(
                    method, path, status, decoded.get("reason", ""), decoded.get("message", "")
                ),
                status=status,
                reason=decoded.get("reason"),
                hint=hint_for(status, decoded.get("reason")),
            )
        return status, decoded

    def open_stream(self, path, query, timeout):
        """The raw response of a long GET (a watch), for line-by-line reading; the caller releases it."""
        try:
            response = self.pool.request(
                "GET",
                self._url(path, query),
                headers=self._headers(),
                preload_content=False,
                timeout=urllib3.Timeout(connect=self.timeout, read=timeout + 10),
            )
        except (urllib3.exceptions.HTTPError, OSError, ConfigException) as exc:
            raise K8sError("Cannot reach the API server {0}: {1}".format(self.server, exc))
        if response.status >= 400:
            response.release_conn()
            raise K8sError("watch of {0} failed with {1}".format(path, response.status), status=response.status)
        return response

    # -- discovery ---------------------------------------------------------------------------
    def resource(self, api_version, kind, refresh=False):
        """(plural, namespaced) for an apiVersion/kind, from the server's discovery documents."""
        if refresh or api_version not in self._discovery:
            path = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            status, doc = self.request("GET", path)
            self._discovery[api_version] = (
                {}
                if status == 404
                else dict(
                    (r["kind"], (r["name"], r["namespaced"])) for r in doc.get("resources", []) if "/" not in r["name"]
                )
            )
        found = self._discovery[api_version].get(kind)
        if found is None and not refresh:
            return self.resource(api_version, kind, refresh=True)
        if found is None:
            raise K8sError(
                "The server does not serve {0} {1}.".format(api_version, kind),
                reason=NOT_SERVED,
                hint="check apiVersion and kind; a custom resource needs its CRD applied (and Established) first",
            )
        return found

    def collection_path(self, api_version, kind, namespace=None):
        """The path of a kind's collection: in ``namespace`` for a namespaced kind, else across all namespaces."""
        plural, namespaced = self.resource(api_version, kind)
        prefix = "/api/v1" if api_version == "v1" else "/apis/" + api_version
        if namespaced and namespace:
            prefix += "/namespaces/" + quote(namespace)
        return prefix + "/" + plural

    def path(self, obj, namespace=None, name=True):
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind:
            raise K8sError("Every object needs apiVersion and kind; got {0}.".format(json.dumps(obj)[:200]))
        namespace = obj.get("metadata", {}).get("namespace") or namespace or self.namespace
        path = self.collection_path(api_version, kind, namespace)
        if name:
            object_name = obj.get("metadata", {}).get("name")
            if not object_name:
                raise K8sError("{0} {1} has no metadata.name.".format(api_version, kind))
            path += "/" + quote(object_name)
        return path
