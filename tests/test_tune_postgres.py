"""``zoo tune --storage postgresql://...``: two processes share one study in a real PostgreSQL server.

The fixture starts a throwaway cluster on 127.0.0.1 (initdb, a free port, trust
authentication, deleted afterwards). As root, the server runs as the ``postgres`` user,
because initdb and postgres refuse to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("optuna")
pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is not installed")


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser to start the server as 'postgres'")
        as_user = [runuser, "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="zoo-pg-"))
    data, log = root / "data", root / "server.log"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    run = [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "zoo", "--no-sync", "-E", "UTF8"]
    subprocess.run(run, check=True, capture_output=True)
    options = f"-h 127.0.0.1 -p {port} -k {root} -F"
    start = [*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
    started = subprocess.run(start, capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stdout}{started.stderr}")
    try:
        yield f"postgresql://zoo@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_two_commands_share_one_postgres_study(postgres_url: str, toy_site: Path, tmp_path: Path) -> None:
    import optuna

    command = [sys.executable, "-m", "zoo", "tune", "toy.mlp", "--trials", "4", "--epochs", "3"]
    command += ["--space", "lr=0.005..0.5:log", "--space", "batch_size=4,8,16"]
    command += ["--storage", postgres_url, "--study", "pg", "--out", str(tmp_path / "trials"), "-q"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(ZOO_LOAD_PLUGINS="toy", ZOO_NO_PLOTS="1", ZOO_DATA_DIR=str(tmp_path / "data"))
    env["PYTHONPATH"] = str(toy_site)
    procs = [subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    trials = optuna.load_study(study_name="pg", storage=postgres_url).get_trials(deepcopy=False)
    counted = [t for t in trials if not t.user_attrs.get("zoo_surplus")]
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in counted) == 4
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert len({t.user_attrs["zoo_worker"]["pid"] for t in counted}) == 2  # both joined the one study
    summary = subprocess.run([*command[:-1], "--json"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr  # a third run finds the study full and only reports it
    assert '"storage": "postgresql://zoo@127.0.0.1:' in summary.stdout
