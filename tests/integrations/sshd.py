"""A private OpenSSH server on loopback for the remote-training-service test.

It runs the system's ``sshd`` binary with a config file of its own (not the system's, and no
system service is started): a free port on 127.0.0.1, a host key and a client key made for
the test, public-key login of the current user only, and a separate ``HOME`` for what runs
over SSH (so the "remote host" shares no NNI directory with the local one by accident).
Everything it started is killed on exit, also when the test failed.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .nnictl_harness import free_port, kill_sandbox

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


class SshdUnavailableError(RuntimeError):
    """sshd cannot run here; the message says why (tests skip with it)."""


@dataclass(frozen=True)
class SshServer:
    """A running test sshd."""

    host: str
    port: int
    user: str
    key_file: Path
    remote_home: Path

    def run(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``command`` over SSH (as the remote side sees it)."""
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.key_file),
                "-p",
                str(self.port),
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                f"{self.user}@{self.host}",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _sshd_binary() -> str:
    for path in SSHD_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    raise SshdUnavailableError(
        "no sshd binary (Debian package openssh-server; scripts/install-test-system-deps.sh "
        "installs it as root)"
    )


def _keygen(path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        raise SshdUnavailableError("no ssh-keygen (Debian package openssh-client)")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "idarts-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def ssh_server(root: Path, *, env: dict[str, str] | None = None) -> Iterator[SshServer]:
    """Start sshd on a free loopback port; yield how to log in; stop it and its sessions.

    Args:
        root: a directory for the keys, the config and the remote ``HOME``.
        env: variables every SSH session gets (``SetEnv``), besides ``HOME``.

    Raises:
        SshdUnavailableError: no sshd / ssh client, or it did not start (the reason, with its log).
    """
    sshd = _sshd_binary()
    if shutil.which("ssh") is None:
        raise SshdUnavailableError("no ssh client (Debian package openssh-client)")
    root.mkdir(parents=True, exist_ok=True)
    host_key, client_key = root / "host_ed25519", root / "client_ed25519"
    _keygen(host_key)
    _keygen(client_key)
    (root / "authorized_keys").write_text((root / "client_ed25519.pub").read_text())
    remote_home = root / "remote-home"
    remote_home.mkdir()
    user = getpass.getuser()
    if os.geteuid() == 0:
        # sshd refuses to start without its privilege-separation directory (Debian: /run/sshd,
        # made by the system service, which is not started here).
        try:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        except OSError as exc:
            raise SshdUnavailableError(f"cannot make /run/sshd: {exc}") from None
    port = free_port()
    setenv = " ".join(f"{k}={v}" for k, v in {"HOME": str(remote_home), **(env or {})}.items())
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",  # the keys lie under a temporary directory
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "Subsystem sftp internal-sftp",
                f"SetEnv {setenv}",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    log = (root / "sshd.log").open("w")
    proc = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = SshServer("127.0.0.1", port, user, client_key, remote_home)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SshdUnavailableError(
                    f"sshd exited with {proc.returncode}: {(root / 'sshd.log').read_text()[-800:]}"
                )
            probe = server.run("echo $HOME", timeout=20)
            if probe.returncode == 0:
                if probe.stdout.strip() != str(remote_home):
                    raise SshdUnavailableError(
                        f"sshd ignored SetEnv HOME: the session's HOME is {probe.stdout.strip()!r}"
                    )
                break
            if time.monotonic() > deadline:
                raise SshdUnavailableError(
                    f"cannot log in over SSH within 30 s: {probe.stderr.strip()[-400:]}\n"
                    f"{(root / 'sshd.log').read_text()[-800:]}"
                )
            time.sleep(0.3)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
        # What ran over SSH (NNI's trial keeper, the trials) carries the remote HOME.
        kill_sandbox({"HOME": str(remote_home)})
