"""The public names: ``streamdrift.__all__`` is the API's, loaded on first use; ``import streamdrift`` stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import streamdrift
import streamdrift.api


def test_all_names_resolve_to_the_api() -> None:
    for name in streamdrift.__all__:
        if name != "__version__":
            assert getattr(streamdrift, name) is getattr(streamdrift.api, name), name
    assert set(streamdrift.__all__) - {"__version__"} <= set(streamdrift.api.__all__)
    assert set(streamdrift.__all__) <= set(dir(streamdrift))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = streamdrift.no_such_name


def test_importing_the_package_loads_neither_the_api_nor_pyarrow() -> None:
    code = ("import sys, streamdrift; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'pandas', 'polars', 'numpy') "
            "or m.startswith('streamdrift.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_api_loads_no_kafka_client_pandas_or_polars() -> None:
    code = ("import sys, streamdrift; streamdrift.Baseline; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'confluent_kafka', 'faust', 'aiokafka', 'pandas', 'polars'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
