"""A real single-node Apache Kafka broker (KRaft) on localhost, for tests, the demo and benchmarks.

The broker is the genuine Apache Kafka JVM (jars fetched by Maven into ``deploy/kafka/lib``), configured
from the same files as ``deploy/kafka/kafka.sh``: ``server.properties.template``, ``log4j2.properties``
and ``jvm.options``. Usage::

    with LocalKafka() as kafka:            # free ports, a temporary data dir
        create_topics(kafka.bootstrap, {"captures": 3})
        ...

Readiness is the broker's "Kafka Server started" log line followed by a successful metadata request.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Any, Self

from streamdrift.dev import securekafka
from streamdrift.dev.jvmprocess import (
    POLL_S,
    die_with_parent,
    log_tail,
    read_log_from,
    signal_group,
    terminate_group,
    wait_gone,
)
from streamdrift.errors import BrokerError

READY_LINE = "Kafka Server started"
_PORT_IN_USE = "Address already in use"
_PORT_ATTEMPTS = 3
_STOP_TIMEOUT_S = 30.0


def default_kafka_home() -> Path:
    """``deploy/kafka`` of the source checkout this module was imported from."""
    return Path(__file__).resolve().parents[3] / "deploy" / "kafka"


def kafka_version(kafka_home: Path) -> str:
    """The Kafka version pinned in ``<kafka_home>/pom.xml``."""
    text = _read_text(kafka_home / "pom.xml")
    start, end = text.find("<kafka.version>"), text.find("</kafka.version>")
    if start < 0 or end < start:
        raise BrokerError(f"no <kafka.version> in {kafka_home / 'pom.xml'}")
    return text[start + len("<kafka.version>") : end].strip()


def jars_present(kafka_home: Path) -> bool:
    lib = kafka_home / "lib"
    broker_jar = lib / f"kafka_2.13-{kafka_version(kafka_home)}.jar"
    return broker_jar.is_file() and any(lib.glob("log4j-core-*.jar"))


def fetch_jars(kafka_home: Path | None = None, mvn: str = "mvn") -> Path:
    """Download the broker jars with Maven unless present; returns the ``lib`` directory."""
    home = kafka_home or default_kafka_home()
    if jars_present(home):
        return home / "lib"
    if shutil.which(mvn) is None:
        raise BrokerError(f"Maven ({mvn}) is needed to fetch the Kafka jars into {home / 'lib'}")
    shutil.rmtree(home / "lib", ignore_errors=True)
    cmd = [mvn, "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=lib"]
    done = subprocess.run(cmd, cwd=home, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not jars_present(home):
        raise BrokerError(
            f"fetching Kafka jars failed (mvn exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return home / "lib"


def find_free_port(span: int = 1) -> int:
    """A TCP port on 127.0.0.1 that is free right now, and so are the ``span - 1`` ports after it (a worker of
    role ``all`` listens on its ``web_port`` and, for the data plane's metrics, on the port after it)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port + span <= 65536 and all(port_is_free(port + i) for i in range(1, span)):
            return port
    raise BrokerError(f"no {span} consecutive free TCP ports on 127.0.0.1")


def port_is_free(port: int) -> bool:
    """Whether a listener could bind 127.0.0.1:``port`` now (SO_REUSEADDR, as the JVM binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port_except(*taken: int) -> int:
    for _ in range(100):
        port = find_free_port()
        if port not in taken:
            return port
    raise BrokerError(f"no free port other than {taken}")


def new_cluster_id() -> str:
    """A 22-character KRaft cluster id (URL-safe base64 of a random UUID, no padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


def render_server_properties(template: str, port: int, controller_port: int, log_dirs: Path) -> str:
    """Fill ``server.properties.template``'s placeholders (the same ones kafka.sh replaces)."""
    return (
        template.replace("@PORT@", str(port))
        .replace("@CONTROLLER_PORT@", str(controller_port))
        .replace("@LOG_DIRS@", str(log_dirs))
    )


def override_properties(text: str, overrides: Mapping[str, str]) -> str:
    """``text`` (a .properties file) with each ``key=value`` of ``overrides`` replacing the key's line, or appended."""
    lines, done = text.splitlines(), set[str]()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if key in overrides and not line.lstrip().startswith("#"):
            lines[i], done = f"{key}={overrides[key]}", done | {key}
    return "\n".join(lines + [f"{k}={v}" for k, v in overrides.items() if k not in done]) + "\n"


def read_jvm_options(path: Path) -> list[str]:
    lines = (line.strip() for line in _read_text(path).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def wait_for_metadata(bootstrap: str, timeout: float = 30.0) -> None:
    """Block until the broker answers a metadata request; BrokerError after ``timeout`` seconds."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            return
        except KafkaException as exc:  # not ready yet
            last_error = exc
            time.sleep(POLL_S)
    raise BrokerError(
        f"broker at {bootstrap} did not answer metadata requests in {timeout:.0f}s: {last_error}"
    )


def create_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    config: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    replication_factor: int = 1,
) -> None:
    """Create topics ``{name: partitions}`` and wait until they exist; existing ones are kept."""
    from concurrent.futures import TimeoutError as FutureTimeout

    from confluent_kafka import KafkaError as RdKafkaError
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(name, partitions, replication_factor, config=dict(config or {})) for name, partitions in topics.items()]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except (KafkaException, FutureTimeout) as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, RdKafkaError) and error.code() == RdKafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BrokerError(f"creating topic {name!r} on {bootstrap} failed: {exc}") from exc
    _wait_for_topics(admin, set(topics), timeout)


def _wait_for_topics(admin: Any, names: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=5)
        ready = {n for n in names if n in metadata.topics and metadata.topics[n].error is None}
        if ready == names:
            return
        time.sleep(POLL_S)
    raise BrokerError(f"topics {sorted(names)} not visible in metadata after {timeout:.0f}s")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BrokerError(f"cannot read {path}: {exc}") from exc


class _PortInUseError(BrokerError):
    """The broker could not bind one of its ports."""


class LocalKafka:
    """One local Kafka broker process (combined KRaft broker + controller, node id 1).

    ``port`` / ``controller_port`` default to free ports; ``data_dir`` defaults to a temporary directory
    that :meth:`close` (and leaving the ``with`` block) deletes. :meth:`stop` keeps the data, so
    :meth:`restart` brings back the same topics and committed offsets on the same ports.
    ``stop_with_parent=True`` (Linux) makes the JVM exit when the starting process dies, e.g. a killed test
    run; leave it False for a broker that must outlive its starter (``streamdrift broker start``).
    ``secured=True`` / ``sasl_ssl_port``: a SASL_SSL listener too, :attr:`sasl_ssl` (:mod:`.securekafka`).
    A node of a cluster (:mod:`.kafkacluster`) sets :attr:`cluster_id` and :attr:`property_overrides`.
    """

    cluster_id: str | None = None  # None: a new one when the storage is formatted
    property_overrides: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self,
        port: int | None = None,
        controller_port: int | None = None,
        data_dir: str | Path | None = None,
        *,
        kafka_home: Path | None = None,
        java: str = "java",
        stop_with_parent: bool = False,
        secured: bool = False,
        sasl_ssl_port: int | None = None,
        scram_users: Mapping[str, str] | None = None,
    ) -> None:
        self._auto_ports = port is None and controller_port is None and sasl_ssl_port is None
        self._started_once = False
        self.stop_with_parent = stop_with_parent
        self.port = port if port is not None else find_free_port()
        self.controller_port = (
            controller_port if controller_port is not None else _free_port_except(self.port)
        )
        if self.controller_port == self.port:
            raise BrokerError(f"port and controller port must differ (both {self.port})")
        self._owns_data_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="streamdrift-kafka-")).resolve()
        self.kafka_home = (kafka_home or default_kafka_home()).resolve()
        self.java = java
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self.sasl_ssl: securekafka.SaslSslListener | None = None
        if secured or sasl_ssl_port is not None:
            secure_port = sasl_ssl_port if sasl_ssl_port is not None else _free_port_except(self.port, self.controller_port)
            self.sasl_ssl = securekafka.listener(secure_port, self.data_dir, scram_users)

    # -- public API ---------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.is_running() and self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 90.0) -> None:
        """Fetch jars if missing, format storage on first use, start the JVM and wait until it serves.

        When the ports were picked automatically and another process grabbed one before the broker bound
        it, the first start retries on fresh ports.
        """
        if self.is_running():
            return
        fetch_jars(self.kafka_home)
        if shutil.which(self.java) is None:
            raise BrokerError(f"Java 17+ is needed to run Kafka ({self.java!r} not found)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = _PORT_ATTEMPTS if self._auto_ports and not self._started_once else 1
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(timeout)
            except _PortInUseError:
                if attempt == attempts:
                    raise
                self.port = find_free_port()
                self.controller_port = _free_port_except(self.port)
                self.sasl_ssl = self.sasl_ssl and replace(self.sasl_ssl, port=_free_port_except(self.port, self.controller_port))
            else:
                self._started_once = True
                return

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """SIGTERM the broker's process group, wait, SIGKILL if it lingers. Keeps the data dir."""
        process, self._process = self._process, None
        if process is not None:
            terminate_group(process, timeout)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        (self.data_dir / "kafka.pid").unlink(missing_ok=True)

    def restart(self, timeout: float = 90.0) -> None:
        """Stop, then start again on the same ports and data dir."""
        self.stop()
        self.start(timeout=timeout)

    def close(self) -> None:
        """Stop and delete the data dir if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def rss_bytes(self) -> int:
        """Resident set size of the broker JVM (Linux /proc)."""
        if self._process is None or not self.is_running():
            raise BrokerError("broker is not running")
        status = _read_text(Path(f"/proc/{self._process.pid}/status"))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise BrokerError(f"no VmRSS for pid {self._process.pid}")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"LocalKafka(bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r}, {state})"

    # -- steps --------------------------------------------------------------------------------------

    def _classpath(self) -> str:
        return str(self.kafka_home / "lib" / "*")

    def _log4j_option(self) -> str:
        return f"-Dlog4j2.configurationFile={self.kafka_home / 'log4j2.properties'}"

    def _start_once(self, timeout: float) -> None:
        self.wait_ready(self.launch(), timeout)

    def launch(self) -> int:
        """Format the storage if new and start the JVM without waiting for it (the nodes of a cluster start
        together: none serves before the quorum has a majority). Returns the log offset to wait from."""
        extra = () if self.sasl_ssl is None else (self.sasl_ssl.port,)
        for port in (self.port, self.controller_port, *extra):
            if not port_is_free(port):
                raise _PortInUseError(f"cannot start Kafka: 127.0.0.1:{port}: {_PORT_IN_USE}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._write_server_properties()
        self._format_storage(props)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._launch(props)
        return offset

    def wait_ready(self, offset: int, timeout: float) -> None:
        """Wait for the launched JVM's ready line (after log ``offset``) and a metadata answer; stop it and raise
        BrokerError (with the log's tail) when it does not come within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        try:
            self._wait_for_ready_line(offset, deadline)
            wait_for_metadata(self.bootstrap, max(1.0, deadline - time.monotonic()))
        except BrokerError as exc:
            self.stop()
            message = f"{exc}\n--- {self.log_path} (tail) ---\n{log_tail(self.log_path)}"
            if _PORT_IN_USE in read_log_from(self.log_path, offset):
                raise _PortInUseError(message) from exc
            raise BrokerError(message) from exc

    def _write_server_properties(self) -> Path:
        template = _read_text(self.kafka_home / "server.properties.template")
        text = render_server_properties(template, self.port, self.controller_port, self.data_dir / "kraft-logs")
        text = override_properties(text, self.property_overrides)
        if self.sasl_ssl is not None:
            secure = _read_text(self.kafka_home / securekafka.TEMPLATE_NAME)
            text += securekafka.properties(secure, self.sasl_ssl, self.port, self.controller_port)
        props = self.data_dir / "server.properties"
        props.write_text(text, encoding="utf-8")
        props.chmod(0o600)
        return props

    def _format_storage(self, props: Path) -> None:
        if (self.data_dir / "kraft-logs" / "meta.properties").exists():
            return
        cmd = [self.java, "-cp", self._classpath(), self._log4j_option(), "kafka.tools.StorageTool", "format",
               f"--cluster-id={self.cluster_id or new_cluster_id()}", "-c", str(props)]  # fmt: skip
        cmd += [] if self.sasl_ssl is None else securekafka.scram_format_args(self.sasl_ssl.users)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:  # the command line holds SCRAM passwords: only the tool's output is shown
            raise BrokerError(
                f"kafka storage format failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def _launch(self, props: Path) -> None:
        cmd = [self.java, *read_jvm_options(self.kafka_home / "jvm.options"), self._log4j_option(),
               f"-Dkafka.logs.dir={self.data_dir}", "-cp", self._classpath(), "kafka.Kafka", str(props)]  # fmt: skip
        self._log_handle = self.log_path.open("ab")
        self._process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log_handle, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent if self.stop_with_parent else None,
        )  # fmt: skip
        (self.data_dir / "kafka.pid").write_text(f"{self._process.pid}\n", encoding="utf-8")

    def _wait_for_ready_line(self, offset: int, deadline: float) -> None:
        needle = READY_LINE.encode()
        with self.log_path.open("rb") as log:
            log.seek(offset)
            seen = b""
            while time.monotonic() < deadline:
                seen = seen[-len(needle) :] + log.read()
                if needle in seen:
                    return
                if self._process is None or self._process.poll() is not None:
                    code = None if self._process is None else self._process.returncode
                    raise BrokerError(f"Kafka exited during start-up (exit code {code})")
                time.sleep(POLL_S)
        raise BrokerError(f"no {READY_LINE!r} in {self.log_path} before the start timeout")


def running_pid(data_dir: str | Path) -> int | None:
    """The pid in ``<data_dir>/kafka.pid`` if that process is alive (a broker started by another process)."""
    pid_file = Path(data_dir) / "kafka.pid"
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def stop_data_dir(data_dir: str | Path, timeout: float = _STOP_TIMEOUT_S) -> int | None:
    """Stop the broker whose pid file is in ``data_dir`` (SIGTERM its group, SIGKILL after ``timeout``).

    Returns the stopped pid, or None when no broker was running there.
    """
    pid = running_pid(data_dir)
    if pid is not None:
        signal_group(pid, signal.SIGTERM)
        if not wait_gone(pid, timeout):
            signal_group(pid, signal.SIGKILL)
            wait_gone(pid, timeout)
    (Path(data_dir) / "kafka.pid").unlink(missing_ok=True)
    return pid
