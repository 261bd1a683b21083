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


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _rows(path):
    """(line number, fields) of every non-blank row, with the sniffed delimiter."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(SNIFF_BYTES)
            handle.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
            except csv.Error:  # one column, or nothing to go on: commas
                dialect = csv.excel
            reader = csv.reader(handle, dialect)
            return [(reader.line_num, [field.strip() for field in row]) for row in reader
                    if any(field.strip() for field in row)]
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text table (CSV of numbers)") from None
    except csv.Error as error:
        raise ValueError(f"{path} is not a readable CSV table: {error}") from None


def _has_header(rows):
    """A first row with a non-numeric field where the next row has a number (or a
    first row of names alone) is a header."""
    def numeric(fields):
        return [_is_number(field) or not field for field in fields]  # an empty field is a missing number

    first = numeric(rows[0][1])
    if all(first):
        return False
    return len(rows) == 1 or first != numeric(rows[1][1])


def _label_index(label_column, names, path):
    """The label column's index from a name in the header or an index (-1: the last)."""
    if label_column is None:
        return len(names) - 1
    if str(label_column).lstrip("-").isdigit():
        index = int(label_column)
        if not -len(names) <= index < len(names):
            raise ValueError(f"{path} has {len(names)} columns; there is no column {index} (0 is the first, "
                             "-1 the last)")
        return index % len(names)
    if label_column not in names:
        raise ValueError(f"{path} has no column named {label_column!r}; its columns are {', '.join(names)}")
    return names.index(label_column)


def _numbers(rows, columns, names, path):
    """The fields of ``columns`` as a float64 array; the first field that is not a
    finite number is named by its line and column."""
    try:
        X = np.array([[fields[column] for column in columns] for _, fields in rows], dtype=np.float64)
        bad = np.argwhere(~np.isfinite(X))
    except ValueError:  # a field that is not a number: find the first, field by field
        bad = [(i, j) for i, (_, fields) in enumerate(rows) for j, column in enumerate(columns)
               if not _is_number(fields[column])][:1]
    if len(bad):
        i, j = bad[0]
        line, field = rows[i][0], rows[i][1][columns[j]]
        where = f"{path} line {line}, column {names[columns[j]]!r}"
        if not field:
            raise ValueError(f"{where}: the field is empty; fill in or drop the missing values first")
        if not _is_number(field):
            raise ValueError(f"{where}: {field!r} is not a number")
        raise ValueError(f"{where}: {field}; neuronet needs finite numbers (fill in or drop the missing values first)")
    return X


def read_table(path, labelled=False, label_column=None):
    """Read a CSV table of numbers; with ``labelled``, one column (``label_column``: a
    header name or an index, by default the last) holds the labels."""
    if not os.path.isfile(path):
        raise ValueError(f"no such file: {path}")
    rows = _rows(path)
    if not rows:
        raise ValueError(f"{path} holds no rows")
    names = [f"column {k + 1}" for k in range(len(rows[0][1]))]
    if _has_header(rows):
        names = [field or default for field, default in zip(rows[0][1], names)]
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{path} has a header and no rows")
    for line, fields in rows:
        if len(fields) != len(names):
            raise ValueError(f"{path} line {line} has {len(fields)} columns; the first row has {len(names)}")
    label = _label_index(label_column, names, path) if labelled else None
    if labelled and len(names) < 2:
        raise ValueError(f"{path} has one column: it needs features and a label column")
    features = [k for k in range(len(names)) if k != label]
    labels = None if label is None else np.array([fields[label] for _, fields in rows])
    return Table(_numbers(rows, features, names, path), labels, [names[k] for k in features],
                 None if label is None else names[label])
