# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local AWS endpoint as an HTTPS proxy, for SDKs that ignore endpoint settings (kube-aws's aws-sdk-go v1).

Such a client is given ``HTTPS_PROXY=<proxy>`` and ``AWS_CA_BUNDLE=<state dir>/ca.pem``. It asks the proxy to
``CONNECT ec2.us-west-2.amazonaws.com:443``; the proxy answers itself (it never opens a connection anywhere but to
the local endpoint), speaks TLS with a certificate for that host signed by a CA made for this state directory, and
relays the decrypted HTTP/1.1 stream to the endpoint on loopback. The endpoint sees the AWS host name in ``Host`` and
dispatches as it does for any request, so both ways in share one state and the realism layer sees every request.

Unlike moto's own proxy mode, a tunnel carries as many requests as the client sends (keep-alive), which Go's
HTTP client relies on, and the answers are the realism layer's (life cycles, request log) rather than moto's.
Hosts outside ``amazonaws.com`` are refused with 403.
"""

import datetime
import ipaddress
import os
import select
import socket
import socketserver
import ssl
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

AWS_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
CA_NAME = "trainkit local AWS proxy CA"


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class Authority:
    """A CA of this state directory (ca.pem public, ca.key 0600) and the host certificates it signs, cached."""

    def __init__(self, state_dir):
        self.cert_path = os.path.join(state_dir, "ca.pem")
        key_path = os.path.join(state_dir, "ca.key")
        self.lock = threading.Lock()
        self.contexts = {}
        if os.path.exists(self.cert_path) and os.path.exists(key_path):
            with open(key_path, "rb") as handle:
                self.key = serialization.load_pem_private_key(handle.read(), password=None)
            with open(self.cert_path, "rb") as handle:
                self.cert = x509.load_pem_x509_certificate(handle.read())
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.timezone.utc)
            self.cert = (
                x509.CertificateBuilder()
                .subject_name(_name(CA_NAME))
                .issuer_name(_name(CA_NAME))
                .public_key(self.key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                .sign(self.key, hashes.SHA256())
            )
            _write_private(
                key_path,
                self.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
            )
            with open(self.cert_path, "wb") as handle:
                handle.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.work = tempfile.mkdtemp(prefix="certs-", dir=state_dir)

    def context(self, host):
        """A server TLS context presenting a certificate for ``host`` (made once per host)."""
        with self.lock:
            found = self.contexts.get(host)
            if found is not None:
                return found
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name(host))
                .issuer_name(self.cert.subject)
                .public_key(self.leaf_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256())
            )
            path = os.path.join(self.work, host + ".pem")
            _write_private(
                path,
                cert.public_bytes(serialization.Encoding.PEM)
                + self.leaf_key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ),
            )
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(path)
            self.contexts[host] = context
            return context


def is_aws_host(host):
    host = host.lower().rstrip(".")
    return host.endswith(AWS_SUFFIXES) and all(c.isalnum() or c in "-." for c in host)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        client.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > 65536:
                return self.reply(client, 431, "request head too large")
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or parts[0].upper() != "CONNECT":
            return self.reply(client, 405, "the local AWS proxy only tunnels HTTPS (CONNECT host:443)")
        host, _colon, port = parts[1].rpartition(":")
        if not is_aws_host(host) or port != "443":
            return self.reply(client, 403, "the local AWS proxy serves AWS service hosts only, not " + parts[1])
        client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        try:
            tls = self.server.authority.context(host.lower()).wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client gave up or does not trust the CA: it reports that itself
        upstream = socket.create_connection(self.server.upstream, timeout=30)
        try:
            relay(tls, upstream)
        finally:
            upstream.close()
            try:
                tls.close()
            except OSError:
                pass

    @staticmethod
    def reply(client, status, message):
        body = (message + "\n").encode()
        client.sendall(
            "HTTP/1.1 {0} {1}\r\nContent-Type: text/plain\r\nContent-Length: {2}\r\nConnection: close\r\n\r\n".format(
                status, "Refused", len(body)
            ).encode()
            + body
        )


def relay(tls, upstream, idle=120):
    """Copy both ways until either side closes (or nothing moves for ``idle`` seconds)."""
    tls.setblocking(False)
    upstream.setblocking(False)
    sockets = [tls, upstream]
    while True:
        readable = [tls] if tls.pending() else []
        if not readable:
            readable, _writable, broken = select.select(sockets, [], sockets, idle)
            if broken or not readable:
                return
        for sock in readable:
            other = upstream if sock is tls else tls
            try:
                data = sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except OSError:
                return
            if not data:
                return
            other.setblocking(True)
            try:
                other.sendall(data)
            except OSError:
                return
            finally:
                other.setblocking(False)


class Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host, port, upstream_port, state_dir):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the local AWS proxy listens on loopback only")
        self.upstream = ("127.0.0.1", upstream_port)
        self.authority = Authority(state_dir)
        super().__init__((host, port), _Handler)


def serve_in_background(host, port, upstream_port, state_dir):
    """Start the proxy on a daemon thread; returns the server (its CA is ``server.authority.cert_path``)."""
    server = Proxy(host, port, upstream_port, state_dir)
    threading.Thread(target=server.serve_forever, name="local-aws-proxy", daemon=True).start()
    return server
