"""Throwaway PostgreSQL and MariaDB servers, for the tests and for `nox -s dialects`.

`postgresql_server()` and `mariadb_server()` each start a real server from Debian's packages in a
fresh temporary directory: its own data, sockets and log, no configuration from /etc, listening
on a free port of 127.0.0.1 only. They yield the SQLAlchemy URL of a database owned by a password
user, then stop the server by its own PID and remove the directory, even when the body raised.

    with postgresql_server() as url:
        engine = sqlalchemy.create_engine(url)

The URL is a `str` that also carries `.pid`, `.port`, `.directory` and `.timings` (seconds of
each step; "stop" is filled in when the block exits), for tests that check the server itself.
Only the standard library is imported here: the nox session uses `missing_binaries()` before any
driver is installed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POSTGRESQL_BIN = Path(os.environ.get("SESSION_SYNC_POSTGRESQL_BIN", "/usr/lib/postgresql/15/bin"))
# mariadbd is in /usr/sbin, which a non-root PATH may not hold.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
DEBIAN_PACKAGES = ["postgresql", "mariadb-server"]
INSTALL_HINT = "as root: apt-get install -y " + " ".join(DEBIAN_PACKAGES)

DATABASE = USER = "session_sync"
READY_TIMEOUT = 60  # seconds for a server to accept connections
STOP_TIMEOUT = 60  # seconds for a server to exit after the shutdown signal, before SIGKILL


class ServerUnavailable(RuntimeError):
    """A server cannot be started here: its binaries are missing, or it failed to start."""


class ServerURL(str):
    """The SQLAlchemy URL of a running server, with the facts a test checks about the server."""

    pid: int
    port: int
    directory: Path
    timings: dict[str, float]

    def __new__(cls, url: str, *, pid: int, port: int, directory: Path, timings: dict):
        self = super().__new__(cls, url)
        self.pid, self.port, self.directory, self.timings = pid, port, directory, timings
        return self


# --- what is installed --------------------------------------------------------------------------


def _postgresql_binaries() -> dict[str, Path]:
    return {name: POSTGRESQL_BIN / name for name in ("initdb", "postgres", "pg_isready", "psql")}


def _mariadb_binaries() -> dict[str, str | None]:
    names = ("mariadb-install-db", "mariadbd", "mariadb-admin")
    return {name: shutil.which(name, path=SEARCH_PATH) for name in names}


def postgresql_missing() -> str | None:
    """Why PostgreSQL cannot run here, or None when it can."""
    missing = [str(path) for path in _postgresql_binaries().values() if not path.is_file()]
    if missing:
        return f"PostgreSQL 15 is not installed (no {', '.join(missing)}); {INSTALL_HINT}"
    if os.geteuid() == 0 and not _user_exists("postgres"):
        return "PostgreSQL refuses to run as root, and there is no 'postgres' user to run it as"
    return None


def mariadb_missing() -> str | None:
    """Why MariaDB cannot run here, or None when it can."""
    missing = [name for name, path in _mariadb_binaries().items() if path is None]
    if missing:
        return f"MariaDB is not installed (no {', '.join(missing)}); {INSTALL_HINT}"
    return None


def missing_binaries() -> list[str]:
    """Every reason a server cannot run here: empty when both can."""
    return [reason for reason in (postgresql_missing(), mariadb_missing()) if reason]


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- the servers --------------------------------------------------------------------------------


@contextmanager
def postgresql_server() -> Iterator[ServerURL]:
    """A PostgreSQL 15 server; yields `postgresql+psycopg://...` (psycopg 3)."""
    reason = postgresql_missing()
    if reason:
        raise ServerUnavailable(reason)
    binaries = _postgresql_binaries()
    # PostgreSQL refuses to run as root: then initdb and postgres run as the postgres user.
    run_as = "postgres" if os.geteuid() == 0 else None
    timings: dict[str, float] = {}
    with _server_directory("postgresql", owner=run_as) as directory:
        data, log = directory / "data", directory / "server.log"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        with _timed(timings, "init"), log.open("ab") as output:
            # Unix socket connections are trusted (they stay inside the directory); TCP needs
            # the password. The data directory's postgresql.conf comes from initdb, not /etc.
            initdb = [
                binaries["initdb"], "-D", data, "-U", "postgres", "--encoding=UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
            ]  # fmt: skip
            _check_call(initdb, output, log, env=env, user=run_as, cwd=directory)

        def command_for(port: int) -> list:
            settings = {
                "listen_addresses": "127.0.0.1",
                "port": port,
                "unix_socket_directories": directory,
                # A throwaway server: durability is not worth the time.
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            command = [binaries["postgres"], "-D", data]
            for name, value in settings.items():
                command += ["-c", f"{name}={value}"]
            return command

        def client_for(port: int) -> list:
            return ["-h", directory, "-p", str(port), "-U", "postgres"]

        def ready_probe(port: int) -> list:
            return [binaries["pg_isready"], *client_for(port), "-d", "postgres", "-q"]

        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, then exit.
        with _running_on_a_free_port(
            command_for, ready_probe, log, signal.SIGINT, timings, env=env, user=run_as
        ) as (server, port):
            client = client_for(port)
            password = secrets.token_hex(16)
            with _timed(timings, "setup"), log.open("ab") as output:
                # CREATEDB: the tests give each example a fresh database of its own.
                psql = [binaries["psql"], "-X", "-q", "-v", "ON_ERROR_STOP=1", *client]
                psql += ["-d", "postgres"]
                psql += ["-c", f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{password}'"]
                psql += ["-c", f"CREATE DATABASE {DATABASE} OWNER {USER}"]
                _check_call(psql, output, log, env=env)
            url = f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"
            yield ServerURL(url, pid=server.pid, port=port, directory=directory, timings=timings)


@contextmanager
def mariadb_server() -> Iterator[ServerURL]:
    """A MariaDB server; yields `mysql+pymysql://...`."""
    reason = mariadb_missing()
    if reason:
        raise ServerUnavailable(reason)
    binaries = _mariadb_binaries()
    # --no-defaults must come first: otherwise /etc/mysql's settings apply.
    user = ["--user=root"] if os.geteuid() == 0 else []
    timings: dict[str, float] = {}
    with _server_directory("mariadb") as directory:
        data, log = directory / "data", directory / "server.log"
        env = {"PATH": SEARCH_PATH, "LC_ALL": "C"}
        with _timed(timings, "init"), log.open("ab") as output:
            install = [
                binaries["mariadb-install-db"], "--no-defaults", *user, f"--datadir={data}",
                "--skip-test-db", "--skip-name-resolve", "--auth-root-authentication-method=socket",
            ]  # fmt: skip
            _check_call(install, output, log, env=env, cwd=directory)
        # Root may log in only through the socket; the tests' user logs in over TCP with a
        # password. The server runs this file itself before it accepts connections.
        password = secrets.token_hex(16)
        (directory / "init.sql").write_text(
            f"CREATE DATABASE {DATABASE};\n"
            f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
            # All privileges: the tests give each example a fresh database of its own.
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1';\n"
        )
        socket_path = directory / "mariadb.sock"

        def command_for(port: int) -> list:
            return [
                binaries["mariadbd"], "--no-defaults", *user, f"--datadir={data}",
                f"--socket={socket_path}", f"--pid-file={directory / 'mariadbd.pid'}",
                f"--port={port}", "--bind-address=127.0.0.1", "--skip-name-resolve",
                f"--init-file={directory / 'init.sql'}",
                # A throwaway server: nothing to keep for the next start.
                "--innodb-buffer-pool-dump-at-shutdown=OFF",
                "--innodb-buffer-pool-load-at-startup=OFF",
                "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin",
            ]  # fmt: skip

        def ready_probe(port: int) -> list:
            # `ping` succeeds once the server answers a handshake, even "access denied" (it
            # then has run init.sql).
            ping = [binaries["mariadb-admin"], "--no-defaults", f"--socket={socket_path}"]
            return [*ping, "--connect-timeout=2", "ping"]

        # SIGTERM is mariadbd's normal shutdown (`mariadb-admin shutdown` returns before the
        # server has exited; waiting on the PID does not).
        with _running_on_a_free_port(
            command_for, ready_probe, log, signal.SIGTERM, timings, env=env
        ) as (server, port):
            url = f"mysql+pymysql://{USER}:{password}@127.0.0.1:{port}/{DATABASE}"
            yield ServerURL(url, pid=server.pid, port=port, directory=directory, timings=timings)


# --- the parts both servers share ---------------------------------------------------------------


def fresh_database(server_url: str, example: str) -> str:
    """An empty database for one example on the server of `server_url`; returns its URL.

    Examples share table names with different columns, so each gets a database of its own.
    """
    from sqlalchemy import create_engine, make_url, text

    name = re.sub(r"\W", "_", example.removesuffix(".py"))
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


# The driver an example that uses create_async_engine gets on each database: psycopg 3 has an
# async mode of its own; MariaDB's pymysql has aiomysql; SQLite's pysqlite has aiosqlite.
ASYNC_DRIVERS = {"postgresql": "psycopg_async", "mysql": "aiomysql", "sqlite": "aiosqlite"}


def url_for_example(server_url: str, source: str) -> str:
    """The URL an example runs on: `server_url` itself, or, for an example whose source uses
    ``create_async_engine``, the same database through its async driver (ASYNC_DRIVERS)."""
    if not re.search(r"\bcreate_async_engine\b", source):
        return server_url
    from sqlalchemy import make_url

    url = make_url(server_url)
    backend = url.get_backend_name()
    url = url.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    return url.render_as_string(hide_password=False)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing uses now (the kernel picks it).

    Only a guess: the port is released on return, and another process may take it before the
    server binds it. _running_on_a_free_port starts the server again on another port then.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PORT_ATTEMPTS = 5
PORT_TAKEN = "Address already in use"  # both servers log strerror(EADDRINUSE) and exit


@contextmanager
def _running_on_a_free_port(
    command_for, ready_probe, log: Path, stop_signal: int, timings: dict, env: dict,
    user: str | None = None,
) -> Iterator[tuple[subprocess.Popen, int]]:  # fmt: skip
    """Start the server on a free port and wait until it is ready; yields (process, port).

    free_port() can race with another process: when the server exits because its port was
    taken meanwhile, it starts again on another port. Once ready, the server must itself
    listen on the port (not merely someone), or this fails.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        log_start = log.stat().st_size if log.exists() else 0
        with _running(command_for(port), log, stop_signal, timings, env, user) as server:
            try:
                with _timed(timings, "start"):
                    _wait_until_ready(server, log, ready_probe(port), env)
            except ServerUnavailable:
                with log.open("rb") as output:
                    output.seek(log_start)
                    said = output.read().decode(errors="replace")
                if server.poll() is None or PORT_TAKEN not in said or attempt == PORT_ATTEMPTS:
                    raise
                timings["port retries"] = attempt
                continue
            if ("127.0.0.1", port) not in listening_addresses(server.pid):
                raise ServerUnavailable(
                    f"{Path(server.args[0]).name} is ready but does not listen on "
                    f"127.0.0.1:{port}: {sorted(listening_addresses(server.pid))}"
                )
            yield server, port
            return
    raise AssertionError("unreachable: the last attempt raises or yields")


@contextmanager
def _server_directory(name: str, owner: str | None = None) -> Iterator[Path]:
    """A fresh temporary directory, removed on exit; owned by `owner` when one is given."""
    directory = Path(tempfile.mkdtemp(prefix=f"session-sync-{name}-"))
    try:
        if owner:
            _check_traversable(directory.parent, owner)
            shutil.chown(directory, owner, owner)  # mkdtemp made it 0700: only owner enters
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _check_traversable(directory: Path, user: str) -> None:
    """Fail clearly if `user` could not reach a directory made under this one."""
    for parent in (directory, *directory.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise ServerUnavailable(
                f"{user} cannot enter {parent} (mode {stat.filemode(parent.stat().st_mode)}), "
                f"which holds the server's temporary directory: set TMPDIR to a directory "
                f"every user can traverse, such as /tmp"
            )


@contextmanager
def _running(
    command: list, log: Path, stop_signal: int, timings: dict, env: dict, user: str | None = None
) -> Iterator[subprocess.Popen]:
    """Run a server process; on exit stop it by its PID and wait until that PID is gone."""
    with log.open("ab") as output:
        # A session of its own: a Ctrl-C in the terminal does not reach the server (this
        # stops it), and SIGKILL can take the whole process group if it must.
        server = subprocess.Popen(
            [str(part) for part in command], stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT, env=env, start_new_session=True, **_as_user(user),
        )  # fmt: skip
    try:
        yield server
    finally:
        with _timed(timings, "stop"):
            _stop(server, stop_signal)


def _stop(server: subprocess.Popen, stop_signal: int) -> None:
    if server.poll() is None:
        server.send_signal(stop_signal)
        try:
            server.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    # Its children (PostgreSQL's backends) leave with it; wait for the stragglers too.
    deadline = time.monotonic() + STOP_TIMEOUT
    while _process_group_alive(server.pid):
        if time.monotonic() > deadline:
            os.killpg(server.pid, signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT
        time.sleep(0.02)


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal is still a member
        return True
    return True


def _as_user(user: str | None) -> dict:
    """subprocess options that run the command as `user` (no extra process in between)."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def _check_call(
    command: list, output, log: Path, env: dict, user: str | None = None, cwd: Path | None = None
) -> None:
    result = subprocess.run(
        [str(part) for part in command], stdin=subprocess.DEVNULL, stdout=output,
        stderr=subprocess.STDOUT, env=env, cwd=cwd, timeout=READY_TIMEOUT, **_as_user(user),
    )  # fmt: skip
    if result.returncode != 0:
        output.flush()
        raise ServerUnavailable(
            f"{Path(command[0]).name} failed (exit {result.returncode}):\n{_tail(log)}"
        )


def _wait_until_ready(server: subprocess.Popen, log: Path, probe: list, env: dict) -> None:
    """Poll `probe` until it succeeds; fail (never hang) if the server exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if server.poll() is not None:
            raise ServerUnavailable(
                f"{Path(server.args[0]).name} exited with {server.returncode}:\n{_tail(log)}"
            )
        ready = subprocess.run(
            [str(part) for part in probe], env=env, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=READY_TIMEOUT,
        )  # fmt: skip
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise ServerUnavailable(
                f"{Path(server.args[0]).name} was not ready after {READY_TIMEOUT} s:\n{_tail(log)}"
            )
        time.sleep(0.05)


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


@contextmanager
def _timed(timings: dict, step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = time.perf_counter() - start


# --- what a process listens on ------------------------------------------------------------------


def process_tree(pid: int) -> set[int]:
    """`pid` and every process descended from it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in tree and Path(f"/proc/{current}").exists():
            tree.add(current)
            todo += children.get(current, [])
    return tree


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket that `pid` or a descendant listens on."""
    inodes = set()
    for member in process_tree(pid):
        try:
            fds = list(Path(f"/proc/{member}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                found.add(_decode_address(local))
    return found


def _decode_address(hex_address: str) -> tuple[str, int]:
    """/proc/net/tcp's "0100007F:1F90" → ("127.0.0.1", 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if sys.byteorder == "little":  # the kernel prints each 32-bit word in host byte order
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def port_is_free(port: int) -> bool:
    """Whether a new socket could listen on `port` of 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not a user
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


if __name__ == "__main__":
    # A quick look by hand: start both, print their URLs and what they listen on, stop them.
    for start in (postgresql_server, mariadb_server):
        with start() as url:
            print(url, sorted(listening_addresses(url.pid)), url.timings)
        print("stopped", url.timings)
