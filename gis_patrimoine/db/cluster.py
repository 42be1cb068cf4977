"""The embedded local PostgreSQL cluster: created, started and stopped on demand.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the `postgres` system user.
Its data live under the project's git-ignored data folder when that user can reach it, otherwise (a
checkout under a private home) under /var/lib/gis-patrimoine, keyed by the checkout's path. The cluster
listens on 127.0.0.1 only, on a free port chosen once and remembered in `cluster.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from gis_patrimoine.settings import Settings

STATE_FILE = "cluster.json"
FIRST_PORT = 55432
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes, with room for "/.s.PGSQL.NNNNN"

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'512MB'",
    "work_mem": "'32MB'",
    "maintenance_work_mem": "'256MB'",
    "max_wal_size": "'2GB'",
    "jit": "off",  # JIT compilation costs more than it saves on tile-sized queries
    "logging_collector": "off",
    "log_min_duration_statement": "2000",
    "timezone": "'UTC'",
}


class ClusterError(RuntimeError):
    """The local cluster could not be created, started or stopped."""


@dataclass
class ClusterState:
    datadir: str
    socket_dir: str
    port: int
    owner: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/"


def _is_root() -> bool:
    return os.geteuid() == 0


def _owner() -> str:
    return "postgres" if _is_root() else pwd.getpwuid(os.geteuid()).pw_name


def pg_bindir(version: int) -> Path:
    bindir = Path(f"/usr/lib/postgresql/{version}/bin")
    if not (bindir / "pg_ctl").exists():
        raise ClusterError(
            f"PostgreSQL {version} server binaries not found in {bindir}: run `make setup` "
            "(it installs postgresql-15, PostGIS and pgRouting) or set DATABASE_URL to an existing PostGIS."
        )
    return bindir


def _as_owner(cmd: list[str], owner: str, **kwargs) -> subprocess.CompletedProcess:
    if _is_root() and owner != "root":
        cmd = ["runuser", "-u", owner, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def _reachable(path: Path, owner: str) -> bool:
    """Whether `owner` can write in `path` (every parent must be traversable)."""
    return _as_owner(["test", "-w", str(path)], owner).returncode == 0


def _prepare_dir(path: Path, owner: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(path, owner, owner)
    path.chmod(0o700)


def _base_dir(settings: Settings, owner: str) -> Path:
    """The folder that holds the cluster: the data folder if the owner can reach it, else /var/lib."""
    preferred = settings.data_dir / "pg"
    if _is_root():
        _prepare_dir(preferred, owner)
        if not _reachable(preferred, owner):
            preferred.rmdir()
            key = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:12]
            preferred = Path("/var/lib/gis-patrimoine") / key
            Path("/var/lib/gis-patrimoine").mkdir(parents=True, exist_ok=True)
            _prepare_dir(preferred, owner)
    else:
        _prepare_dir(preferred, owner)
    return preferred


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(start: int = FIRST_PORT) -> int:
    for port in range(start, start + 200):
        if _port_free(port):
            return port
    raise ClusterError(f"no free TCP port between {start} and {start + 199}")


def load_state(settings: Settings) -> ClusterState | None:
    path = settings.data_dir / STATE_FILE
    if not path.exists():
        return None
    return ClusterState(**json.loads(path.read_text()))


def _save_state(settings: Settings, state: ClusterState) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")


def _initdb(settings: Settings) -> ClusterState:
    owner = _owner()
    base = _base_dir(settings, owner)
    datadir = base / "data"
    socket_dir = base / "run"
    if len(str(socket_dir)) > SOCKET_PATH_MAX:
        key = hashlib.sha256(str(base).encode()).hexdigest()[:12]
        socket_dir = Path("/tmp") / f"gis-patrimoine-{key}"
    _prepare_dir(socket_dir, owner)
    bindir = pg_bindir(settings.pg_version)
    if not (datadir / "PG_VERSION").exists():
        res = _as_owner(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            owner,
        )
        if res.returncode != 0:
            raise ClusterError(f"initdb failed:\n{res.stderr.strip()}")
    # an existing cluster (a checkout cloned again at the same place) keeps its port
    port = _running_port(datadir) or _configured_port(datadir) or _free_port()
    state = ClusterState(str(datadir), str(socket_dir), port, owner)
    _write_conf(state)
    _save_state(settings, state)
    return state


def _running_port(datadir: Path) -> int | None:
    """The port of the postmaster running on this data directory, from its postmaster.pid (4th line)."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, IndexError, ValueError):
        return None


def _configured_port(datadir: Path) -> int | None:
    try:
        text = (datadir / "gis_patrimoine.conf").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "port" and value.strip().isdigit():
            return int(value.strip())
    return None


def _write_conf(state: ClusterState) -> None:
    """Our settings live in an included file so that postgresql.conf stays Debian's default."""
    conf = dict(SERVER_SETTINGS, port=str(state.port), unix_socket_directories=f"'{state.socket_dir}'")
    body = "# written by gis-patrimoine; edit through gis_patrimoine/db/cluster.py\n"
    body += "".join(f"{k} = {v}\n" for k, v in conf.items())
    _as_owner(["tee", str(Path(state.datadir) / "gis_patrimoine.conf")], state.owner, input=body, check=True)
    main_conf = Path(state.datadir) / "postgresql.conf"
    include = "include_if_exists = 'gis_patrimoine.conf'\n"
    if include not in main_conf.read_text():
        _as_owner(["tee", "-a", str(main_conf)], state.owner, input=include, check=True)


def is_running(settings: Settings, state: ClusterState | None = None) -> bool:
    state = state or load_state(settings)
    if state is None or not Path(state.datadir).exists():
        return False
    bindir = pg_bindir(settings.pg_version)
    return _as_owner([str(bindir / "pg_ctl"), "status", "-D", state.datadir], state.owner).returncode == 0


def up(settings: Settings) -> ClusterState:
    """Create the cluster if needed and start it; a no-op when it already runs."""
    state = load_state(settings)
    if state is None or not (Path(state.datadir) / "PG_VERSION").exists():
        state = _initdb(settings)
    if is_running(settings, state):
        running = _running_port(Path(state.datadir))
        if running and running != state.port:  # started elsewhere with another port: follow it
            state.port = running
            _write_conf(state)
            _save_state(settings, state)
        return state

    _prepare_dir(Path(state.socket_dir), state.owner)
    if not _port_free(state.port):
        state.port = _free_port(state.port + 1)
        _write_conf(state)
        _save_state(settings, state)
    bindir = pg_bindir(settings.pg_version)
    log = Path(state.datadir).parent / "postgresql.log"
    res = _as_owner(
        [str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", state.datadir, "-l", str(log)], state.owner
    )
    if res.returncode != 0:
        tail = _as_owner(["tail", "-n", "20", str(log)], state.owner).stdout
        raise ClusterError(f"PostgreSQL did not start:\n{res.stderr.strip()}\n{tail}")
    return state


def down(settings: Settings) -> bool:
    """Stop the cluster (fast shutdown); returns whether it was running."""
    state = load_state(settings)
    if state is None or not is_running(settings, state):
        return False
    bindir = pg_bindir(settings.pg_version)
    res = _as_owner([str(bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", state.datadir], state.owner)
    if res.returncode != 0:
        raise ClusterError(f"PostgreSQL did not stop:\n{res.stderr.strip()}")
    return True
