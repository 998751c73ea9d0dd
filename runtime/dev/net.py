"""The session's listening socket: bound once by `pyflows dev`, shared by every server process."""

from __future__ import annotations

import errno
import ipaddress
import socket

from pyflows.runtime.errors import PyflowsError

__all__ = ["bind", "is_loopback", "url_for"]


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (the default, safe binding)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening, inheritable socket on host:port (port 0: any free one).

    Raises PyflowsError saying what to do for an unknown address, a port in use, an address that
    is not this machine's, or a privileged port.
    """
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PyflowsError(
            f"--ip {host}: cannot resolve this address ({exc.strerror}). Use an IP address "
            "such as 127.0.0.1 or 0.0.0.0."
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PyflowsError(
                f"Port {port} on {host} is already in use. Stop the other server (another `pyflows dev` or "
                "`wrangler dev`?), or pass --port <n> (--port 0 picks a free port)."
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PyflowsError(f"--ip {host} is not an address of this machine. Use 127.0.0.1 or 0.0.0.0.") from None
        if exc.errno == errno.EACCES:
            raise PyflowsError(
                f"Not allowed to listen on port {port}: ports below 1024 need privileges. Use a port such as 8787."
            ) from None
        raise PyflowsError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    """`http://host:port`, with an IPv6 address in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
