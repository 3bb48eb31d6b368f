"""Connecting to vCenter: where the server is, credentials, TLS.

The password comes from ``CPUCOMPAT_VSPHERE_PASSWORD``, a file (``--password-file``, first line)
or a prompt, never from the command line, and is never written anywhere. TLS certificates are
verified (system CAs, or ``--ca-file``) unless ``--insecure`` is given; a failed verification
says how to trust the certificate. Plain ``http://`` is only for a simulator on a loopback
address. Every failure is one ``VSphereError`` line (exit 2).
"""

from __future__ import annotations

import contextlib

import getpass
import ipaddress
import os
import socket
import ssl
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import CpuCompatError

PASSWORD_ENV = "CPUCOMPAT_VSPHERE_PASSWORD"
USER_ENV = "CPUCOMPAT_VSPHERE_USER"
TIMEOUT = 30
#: Seconds a socket may wait for vCenter during a retrieval (a 500-object page takes seconds).
READ_TIMEOUT = 120


class VSphereError(CpuCompatError):
    """vCenter cannot be reached, refuses the login, or is not trusted."""


@dataclass(frozen=True)
class Server:
    scheme: str
    host: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def parse_server(text: str) -> Server:
    """``HOST``, ``HOST:PORT`` or ``https://HOST[:PORT][/sdk]`` (``http://`` on loopback only)."""
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise VSphereError(f"--server {text!r}: expected HOST, HOST:PORT or https://HOST[:PORT]")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise VSphereError(f"--server {text!r}: bad port") from None
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise VSphereError(f"--server {text!r}: plain http is only allowed to a simulator on this machine "
                           "(127.0.0.1); use https")
    return Server(parts.scheme, parts.hostname, port)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def read_password(password_file: str | None, user: str, server: Server) -> str:
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as handle:
                password = handle.readline().rstrip("\r\n")
        except OSError as error:
            raise VSphereError(f"--password-file {password_file}: cannot read: {error.strerror or error}") from None
        if not password:
            raise VSphereError(f"--password-file {password_file}: empty first line, expected the password")
        return password
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise VSphereError(f"no password for {user}@{server.host}: set {PASSWORD_ENV}, give --password-file, "
                           "or run on a terminal to be asked")
    return getpass.getpass(f"password for {user}@{server.host}: ")


def connect(server: Server, user: str, password: str, insecure: bool = False, ca_file: str | None = None):
    """A logged-in pyVmomi ServiceInstance; a VSphereError line for every way this can fail."""
    try:
        from pyVim.connect import SmartConnect
        from pyVmomi import vim
    except ImportError:
        raise VSphereError("pyVmomi is not installed: pip install 'cpucompat[vsphere]'") from None
    context = None
    if server.scheme == "https":
        if insecure:
            context = ssl._create_unverified_context()  # noqa: S323 - asked for with --insecure
        else:
            try:
                context = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as error:
                raise VSphereError(f"--ca-file {ca_file}: cannot read a CA certificate: {error}") from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT)
    try:
        return SmartConnect(host=server.host, port=server.port, user=user, pwd=password,
                            protocol=server.scheme, sslContext=context,
                            disableSslCertValidation=insecure or server.scheme == "http", connectionPoolTimeout=TIMEOUT)
    except vim.fault.InvalidLogin:
        raise VSphereError(f"{server.label}: login refused for user {user!r}: wrong user name or password") from None
    except ssl.SSLCertVerificationError as error:
        raise VSphereError(
            f"{server.label}: TLS certificate not trusted ({error.verify_message}); trust it with "
            f"--ca-file FILE (vCenter's CA: https://{server.host}/certs/download.zip, or the PEM of its "
            "certificate), or skip verification with --insecure") from None
    except ssl.SSLError as error:
        raise VSphereError(f"{server.label}: TLS failed: {error.reason or error}") from None
    except (ConnectionError, socket.timeout, TimeoutError, socket.gaierror) as error:
        raise VSphereError(f"{server.label}: cannot reach the server: {error.strerror or error}") from None
    except OSError as error:
        raise VSphereError(f"{server.label}: cannot reach the server: {error.strerror or error}") from None
    except vim.fault.VimFault as error:
        raise VSphereError(f"{server.label}: login failed: {error.msg or type(error).__name__}") from None
    except Exception as error:  # http.client errors, a non-vSphere server answering
        raise VSphereError(f"{server.label}: not a vCenter answering ({type(error).__name__}: {error})") from None
    finally:
        socket.setdefaulttimeout(previous)


def disconnect(si) -> None:
    try:
        from pyVim.connect import Disconnect

        Disconnect(si)
    except Exception:
        pass


@contextlib.contextmanager
def session(server: str, user: str | None, password_file: str | None, insecure: bool, ca_file: str | None):
    """A logged-in vCenter session for the command line: (server, service instance), logged out
    after. The user comes from ``user`` or ``$CPUCOMPAT_VSPHERE_USER``, the password from
    ``read_password`` (never the command line)."""
    target = parse_server(server)
    user = user or os.environ.get(USER_ENV)
    if not user:
        raise VSphereError(f"no user name for {target.host}: give --user or set {USER_ENV}")
    si = connect(target, user, read_password(password_file, user, target), insecure, ca_file)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(READ_TIMEOUT)  # a vCenter that stops answering mid-retrieval is an error, not a hang
    try:
        yield target, si
    finally:
        socket.setdefaulttimeout(previous)
        disconnect(si)
