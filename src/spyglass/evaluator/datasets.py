"""Evaluation datasets: loaded from JSONL, JSON, CSV, pandas or lists of dicts, and fingerprinted.

A dataset is an ordered tuple of records (dicts). Its digest is the SHA-256 of a canonical
serialization (one JSON object per line, keys sorted, compact separators, UTF-8), so the same
rows give the same digest whichever format they came from, as long as the values are equal
(CSV yields only strings). Every evaluation records the digest it ran on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spyglass.evaluator.errors import DatasetError

__all__ = ["Dataset", "DatasetInput", "canonical_lines", "fingerprint", "load_dataset"]

TRACES_SCHEMES = ("traces://", "traces+https://")

# A path, a pandas DataFrame, a list of dicts, or a Dataset; pandas is duck-typed (no import).
DatasetInput = Any


@dataclass(frozen=True)
class Dataset:
    """Rows to evaluate, with where they came from and their SHA-256 digest."""

    records: tuple[dict[str, Any], ...]
    name: str
    source: str
    digest: str = field(default="")
    source_type: str = "local"
    """``local`` (a file), ``code`` (a list or DataFrame) or ``spyglass-traces``."""

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", fingerprint(self.records))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def columns(self) -> list[str]:
        """Column names in first-seen order over all rows."""
        seen: dict[str, None] = {}
        for record in self.records:
            seen.update(dict.fromkeys(record))
        return list(seen)

    def info(self) -> dict[str, Any]:
        """What an evaluation records about its dataset."""
        return {
            "name": self.name,
            "source": self.source,
            "source_type": self.source_type,
            "digest": self.digest,
            "rows": len(self.records),
            "columns": self.columns,
        }

    def text_column(self, column: str, role: str, *, allow_lists: bool = False) -> list[Any]:
        """The values of ``column`` as text, with an error naming the first bad row.

        Args:
            column: the column to read.
            role: what the column is for ("targets", "predictions", "inputs"), for messages.
            allow_lists: also accept a list of strings (several references for one row).

        Raises:
            DatasetError: the column is absent, missing in a row, null, or not text.
        """
        if column not in self.columns:
            raise DatasetError(
                f"dataset {self.name!r} has no column {column!r} for {role} "
                f"(columns: {', '.join(self.columns) or 'none'})"
            )
        values = []
        for index, record in enumerate(self.records):
            if column not in record:
                raise DatasetError(
                    f"dataset {self.name!r} row {index}: column {column!r} ({role}) is missing"
                )
            values.append(
                check_text(
                    record[column],
                    f"dataset {self.name!r} row {index}, column {column!r} ({role})",
                    allow_lists=allow_lists,
                )
            )
        return values


def check_text(value: Any, where: str, *, allow_lists: bool = False) -> Any:
    """Return ``value`` if it is text (or a non-empty list of texts when allowed).

    Raises:
        DatasetError: ``value`` is null or not text; the message starts with ``where``.
    """
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise DatasetError(f"{where} is empty (null); every row needs text")
    if allow_lists and isinstance(value, list | tuple):
        if value and all(isinstance(v, str) for v in value):
            return list(value)
        raise DatasetError(f"{where}: a list of references must hold only text, got {value!r:.80}")
    raise DatasetError(f"{where}: expected text, got {type(value).__name__} {value!r:.80}")


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _canonical(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return _canonical(tolist())
    return str(value)


def canonical_lines(records: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """Each record as one canonical JSON line (sorted keys, compact, UTF-8, ending in ``\\n``).

    These bytes are what `fingerprint` hashes and what an evaluation stores as
    ``eval/dataset.jsonl``.
    """
    for record in records:
        line = json.dumps(
            _canonical(record), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        yield line.encode() + b"\n"


def fingerprint(records: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical serialization of ``records``, as ``sha256:<hex>``."""
    digest = hashlib.sha256()
    for line in canonical_lines(records):
        digest.update(line)
    return f"sha256:{digest.hexdigest()}"


def _read_jsonl(path: Path) -> list[Any]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
    return rows


def _read_file(path: Path) -> list[Any]:
    if not path.is_file():
        raise DatasetError(f"dataset file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            return _read_jsonl(path)
        if suffix == ".json":
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("data"), list):
                loaded = loaded["data"]
            if not isinstance(loaded, list):
                raise DatasetError(
                    f"{path}: expected a JSON list of objects (or {{'data': [...]}})"
                )
            return loaded
        if suffix in (".csv", ".tsv"):
            with path.open(encoding="utf-8-sig", newline="") as f:
                return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}") from None
    raise DatasetError(f"dataset {path}: unknown format {suffix!r} (use .jsonl, .json or .csv)")


def _records_from(data: Any) -> tuple[list[Any], str, str, str]:
    if isinstance(data, str | Path):
        path = Path(data)
        return _read_file(path), path.name, str(path), "local"
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        return data.to_dict(orient="records"), "dataframe", "pandas.DataFrame", "code"
    if isinstance(data, Sequence) and not isinstance(data, bytes):
        return list(data), "records", "list", "code"
    raise DatasetError(
        f"cannot evaluate data of type {type(data).__name__}: pass a path (.jsonl, .json, "
        ".csv), a pandas DataFrame or a list of dicts"
    )


def load_dataset(data: DatasetInput, *, name: str | None = None) -> Dataset:
    """Load and check rows to evaluate.

    Args:
        data: a path to a ``.jsonl``/``.json``/``.csv`` file, a pandas DataFrame, a list of
            dicts, a ``traces://HOST:PORT/PROJECT?filter=...`` URI (traces stored on a
            Spyglass server, see `dataset_from_traces`), or a `Dataset` (returned unchanged
            unless ``name`` is given).
        name: a name for reports; defaults to the file name.

    Returns:
        The dataset with its digest.

    Raises:
        DatasetError: unreadable, empty, or a row that is not an object.

    Example:
        >>> load_dataset([{"question": "2+2?", "answer": "4"}]).digest[:7]
        'sha256:'
    """
    if isinstance(data, Dataset):
        if name is None:
            return data
        return Dataset(data.records, name, data.source, data.digest, data.source_type)
    if isinstance(data, str) and data.startswith(TRACES_SCHEMES):
        from spyglass.evaluator.trace_datasets import dataset_from_traces_uri

        return dataset_from_traces_uri(data, name=name)
    rows, default_name, source, source_type = _records_from(data)
    label = name or default_name
    if not rows:
        raise DatasetError(f"dataset {label!r} is empty")
    records = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DatasetError(
                f"dataset {label!r} row {index} is a {type(row).__name__}, not an object "
                "with named columns"
            )
        records.append({str(k): _canonical(v) for k, v in row.items()})
    return Dataset(tuple(records), label, source, source_type=source_type)
