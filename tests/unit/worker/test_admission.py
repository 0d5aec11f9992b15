"""A data plane monitors at most ``limits.max_models`` models: the records of further models are dead letters
(issue 19: 100,000 model ids made a 42 MB /metrics page)."""

from __future__ import annotations

from streamdrift.ingest.records import DEAD_LETTER_REASONS, DeadLetter, encode_capture_record, parse_capture
from streamdrift.worker.admission import ModelAdmission


def _poll(models: list[str]) -> list[bytes]:
    return [encode_capture_record(m, features={"x": float(i)}, prediction=1.0, inference_id=f"i{i}",
                                  timestamp_ms=1_718_000_000_000 + i)
            for i, m in enumerate(models)]


def test_models_beyond_the_cap_are_dead_letters() -> None:
    admission = ModelAdmission(max_models=3)
    batches, dead = parse_capture(_poll(["a", "b", "a", "c", "d", "e", "d", "b"]))
    kept = admission.admit(batches, dead)
    assert sorted(b.model_id for b in kept) == ["a", "b", "c"]
    assert sorted(d.index for d in dead) == [4, 5, 6]  # every message of d and e, once
    assert {d.reason for d in dead} == {"too_many_models"} and "too_many_models" in DEAD_LETTER_REASONS
    assert "limits.max_models" in dead[0].detail
    # the admitted set only grows: a later poll (or a replay) decides alike
    batches, later = parse_capture(_poll(["e", "c", "f"]))
    assert sorted(b.model_id for b in admission.admit(batches, later)) == ["c"]
    assert sorted(d.index for d in later) == [0, 2]
    assert all(isinstance(d, DeadLetter) for d in later)
