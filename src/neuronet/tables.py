"""Tables of numbers from CSV files: what ``neuronet train``, ``evaluate`` and
``predict`` read besides images.

A table is read the way people write them: the delimiter is sniffed (comma,
semicolon or tab); a first row that has a non-numeric field where the next row has a
number is a header, and its names are kept; the label column (when the table has one)
is the last unless named. Every problem is one ``ValueError`` that names the file,
the line and the column: a row with another number of fields, a field that is not a
number, a missing, NaN or infinite value.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np

DELIMITERS = ",;\t"
SNIFF_BYTES = 64 * 1024


@dataclass
class Table:
    """Features (n, d) float64, the labels as written (strings) or None, and the names
    of the feature columns (from the header, or ``column 1`` …)."""

    X: np.ndarray
    labels: np.ndarray | None
    feature_names: list
    label_name: str | None = None


def is_number(field):
    """Whether a field reads as a number (NaN and inf included)."""
    try:
        float(field)
    except ValueError:
        return False
    return True


def _dialect(path):
    """The table's CSV dialect, sniffed from its first bytes (commas when there is nothing to go on)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(SNIFF_BYTES)
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text table (CSV of numbers)") from None
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:  # one column, or nothing to go on
        return csv.excel


def _rows(path, dialect, limit=None):
    """(line number, fields) of the non-blank rows (the first ``limit`` of them), fields stripped."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, dialect)
            for row in reader:
                fields = [field.strip() for field in row]
                if any(fields):
                    rows.append((reader.line_num, fields))
                    if limit is not None and len(rows) == limit:
                        break
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text table (CSV of numbers)") from None
    except csv.Error as error:
        raise ValueError(f"{path} is not a readable CSV table: {error}") from None
    return rows


def _numeric_pattern(fields):
    return [is_number(field) or not field for field in fields]  # an empty field is a missing number


def _has_header(rows):
    """The first row is a header when it has a non-numeric field where the next row has a
    number (or it is the only row), or when, beside a named (label) column, its numbers
    are just the column positions (0, 1, 2 … or 1, 2, 3 …, as pandas writes a frame
    whose columns have no names)."""
    first = rows[0][1]
    pattern = _numeric_pattern(first)
    if not all(pattern) and (len(rows) == 1 or pattern != _numeric_pattern(rows[1][1])):
        return True
    positions = [field for field in first if is_number(field)]
    return not all(pattern) and len(positions) > 1 and any(
        positions == [str(k) for k in range(start, start + len(first)) if is_number(first[k - start])]
        for start in (0, 1)) and rows[1][1] != first


def _label_index(label_column, names, path):
    """The label column's index from a name in the header or an index (-1: the last)."""
    if label_column is None:
        return len(names) - 1
    if str(label_column) in names:
        return names.index(str(label_column))
    if str(label_column).lstrip("-").isdigit():
        index = int(label_column)
        if not -len(names) <= index < len(names):
            raise ValueError(f"{path} has {len(names)} columns; there is no column {index} (0 is the first, "
                             "-1 the last)")
        return index % len(names)
    raise ValueError(f"{path} has no column named {label_column!r}; its columns are {', '.join(names)}")


def _quick(path, dialect, skip, label):
    """The whole table parsed by NumPy (labels as codes in the label column), or None when
    some field is not a finite number or a row has another length: then the slow reader
    finds the first such field to name it."""
    codes = {}
    converters = None if label is None else {label: lambda text: codes.setdefault(text.strip(), len(codes))}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            data = np.loadtxt(handle, delimiter=dialect.delimiter, quotechar=dialect.quotechar or None,
                              skiprows=skip, comments=None, ndmin=2, dtype=np.float64, converters=converters)
    except ValueError:
        return None
    if not np.isfinite(data).all():
        return None
    labels = None if label is None else np.array(list(codes), dtype=str)[data[:, label].astype(np.int64)]
    return np.delete(data, label, axis=1) if label is not None else data, labels


def _first_bad_field(rows, columns, names, path):
    """The ValueError naming the first row of another length, or field that is not a finite number."""
    for line, fields in rows:
        if len(fields) != len(names):
            return ValueError(f"{path} line {line} has {len(fields)} columns; the first row has {len(names)}")
        for column in columns:
            field = fields[column]
            where = f"{path} line {line}, column {names[column]!r}"
            if not field:
                return ValueError(f"{where}: the field is empty; fill in or drop the missing values first")
            if not is_number(field):
                return ValueError(f"{where}: {field!r} is not a number")
            if not np.isfinite(float(field)):
                return ValueError(f"{where}: {field}; neuronet needs finite numbers (fill in or drop the missing "
                                  "values first)")
    return ValueError(f"{path} is not a table of numbers")


def read_table(path, labelled=False, label_column=None):
    """Read a CSV table of numbers; with ``labelled``, one column (``label_column``: a
    header name or an index, by default the last) holds the labels."""
    if not os.path.isfile(path):
        raise ValueError(f"no such file: {path}")
    dialect = _dialect(path)
    head = _rows(path, dialect, limit=2)
    if not head:
        raise ValueError(f"{path} holds no rows")
    names = [f"column {k + 1}" for k in range(len(head[0][1]))]
    skip = 0
    if _has_header(head):
        names = [field or default for field, default in zip(head[0][1], names)]
        skip = head[0][0]
        if len(head) == 1:
            raise ValueError(f"{path} has a header and no rows")
    if labelled and len(names) < 2:
        raise ValueError(f"{path} has one column: it needs features and a label column")
    label = _label_index(label_column, names, path) if labelled else None
    features = [k for k in range(len(names)) if k != label]
    quick = _quick(path, dialect, skip, label)
    if quick is None:
        rows = _rows(path, dialect)[1 if skip else 0:]
        raise _first_bad_field(rows, features, names, path)
    X, labels = quick
    if X.shape[1] != len(features):
        raise ValueError(f"{path} has {X.shape[1] + (label is not None)} columns; the first row has {len(names)}")
    return Table(X, labels, [names[k] for k in features], None if label is None else names[label])
