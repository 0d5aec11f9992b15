"""`streamdrift topics create` on the real broker: every topic, the right partitions and configs, idempotent."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from harness import unique_settings

from streamdrift.cli import main
from streamdrift.errors import KafkaError
from streamdrift.worker.topics import create_topics, topic_specs

pytestmark = pytest.mark.integration


def _config(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {name: entry.value for name, entry in entries.items()}


def test_create_is_idempotent_and_configures_topics(kafka_bootstrap: str) -> None:
    settings = unique_settings(kafka_bootstrap, capture_partitions=4)
    specs = topic_specs(settings)
    first = create_topics(settings, specs)
    assert [r.created for r in first] == [True] * 7
    by_name = {r.name: r.partitions for r in first}
    assert by_name[settings.topics.capture] == 4
    assert by_name[settings.topics.partials] == settings.topics.partitions
    second = create_topics(settings, specs)
    assert [r.created for r in second] == [False] * 7
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert _config(admin, settings.topics.baselines)["cleanup.policy"] == "compact"
    assert _config(admin, settings.topics.capture)["cleanup.policy"] == "delete"
    assert int(_config(admin, settings.topics.alerts)["retention.ms"]) == 30 * 24 * 3600 * 1000
    profiles = _config(admin, settings.history.topic)  # the window history: 30 days by default
    assert (profiles["cleanup.policy"], int(profiles["retention.ms"])) == ("delete", 30 * 24 * 3600 * 1000)
    assert by_name[settings.history.topic] == settings.topics.partitions


def test_profiles_retention_comes_from_the_settings(kafka_bootstrap: str) -> None:
    settings = unique_settings(kafka_bootstrap)
    settings = settings.model_copy(update={"history": settings.history.model_copy(update={"retention": 7 * 86400.0})})
    create_topics(settings, [s for s in topic_specs(settings) if s.role == "profiles"])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert int(_config(admin, settings.history.topic)["retention.ms"]) == 7 * 24 * 3600 * 1000


def test_cli_create_reports_existing(kafka_bootstrap: str) -> None:
    settings = unique_settings(kafka_bootstrap)
    create_topics(settings, topic_specs(settings)[:1])  # capture exists beforehand
    env = {"STREAMDRIFT_TOPICS__" + role.upper(): name for role, name in settings.topics.all().items()}
    env["STREAMDRIFT_HISTORY__TOPIC"] = settings.history.topic
    result = CliRunner().invoke(main, ["topics", "create", "--bootstrap", kafka_bootstrap, "--partitions", "2"], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert lines[settings.topics.capture] == "exists"
    assert lines[settings.topics.alerts] == "created"
    assert lines[settings.history.topic] == "created"


def test_kafka_errors_keep_their_code(kafka_bootstrap: str) -> None:
    settings = unique_settings(kafka_bootstrap)
    bad = topic_specs(settings, replication_factor=3)  # one broker: replication 3 is impossible
    with pytest.raises(KafkaError) as info:
        create_topics(settings, bad)
    assert info.value.code is not None
