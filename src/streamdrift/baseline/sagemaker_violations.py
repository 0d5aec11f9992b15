"""SageMaker's constraint_violations.json: the entries, SageMaker's description text, read and write."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from streamdrift.baseline.jsonfiles import read_json_object, write_json
from streamdrift.errors import BaselineError

VIOLATIONS_FILE: Final[str] = "constraint_violations.json"
CHECK_TYPES: Final[tuple[str, ...]] = (
    "data_type_check", "completeness_check", "baseline_drift_check", "missing_column_check",
    "extra_column_check", "categorical_values_check", "non_negative_check",
)


@dataclass(frozen=True)
class Violation:
    """One entry of constraint_violations.json."""

    feature_name: str
    constraint_check_type: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"feature_name": self.feature_name, "constraint_check_type": self.constraint_check_type,
                "description": self.description}


def violation_description(value: float) -> str:
    """SageMaker's message for a failed check whose measured value is ``value``."""
    return f"Value: {_java_double(value)} does not meet the constraint requirement! "


def _java_double(value: float) -> str:
    """A double as Java/Scala prints it (``0.0``, ``1.0E-4``); shortest repr otherwise."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    sci = len(text) + int(exponent) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{sci}"


def write_constraint_violations(
    path: str | Path, violations: Iterable[Violation | tuple[str, str, str]]
) -> Path:
    """Write constraint_violations.json (``path`` may be a directory); returns the file written."""
    target = Path(path)
    if target.is_dir():
        target = target / VIOLATIONS_FILE
    entries = [v if isinstance(v, Violation) else Violation(*v) for v in violations]
    write_json(target, {"violations": [v.to_dict() for v in entries]})
    return target


def read_constraint_violations(path: str | Path) -> list[Violation]:
    data = read_json_object(Path(path))
    try:
        return [Violation(str(v["feature_name"]), str(v["constraint_check_type"]), str(v.get("description", "")))
                for v in data["violations"]]
    except (KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: not a SageMaker constraint_violations.json: {exc!r}") from exc
