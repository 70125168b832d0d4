"""Debezium's column types, mapped once: each column of a change event's schema (Kafka Connect's JSON schema, as
the lab's JsonConverter writes it beside every event: a literal type, a logical name, parameters) to

- the Delta column the lab's streaming job writes (a Spark SQL type, in Spark's own spelling),
- the Spark SQL type ``from_json`` reads the event's JSON value as, and the expression that makes the Delta value
  of it (base64 to bytes, epoch days to a date, ...),
- the Python value a consumer on the host decodes it to (``decode``),
- and the row of the README's type table (``make docs``) that says why, where Delta has no equal.

The connector's settings that make every value arrive exact are in roles/kafka_connect/defaults/main.yml
(``kafka_connect_value_settings``): decimals as strings with their precision and scale propagated, BIGINT UNSIGNED
as a Decimal (written as a JSON number), temporal values in Debezium's adaptive microsecond types, binary as bytes.

This module also runs inside the Spark Connect server (pickled by value with cdc_batch): standard library only.
"""

from __future__ import annotations

import base64
import datetime
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# One field of a Kafka Connect struct schema, as JsonConverter writes it: type, optional, name, parameters, field.
Field = dict[str, Any]

# Delta's (Spark's) widest decimal; MySQL's DECIMAL goes to 65 digits.
MAX_DECIMAL_PRECISION = 38
# The parameters Debezium adds to a column's schema with ``datatype.propagate.source.type``.
SOURCE_TYPE = "__debezium.source.column.type"
SOURCE_LENGTH = "__debezium.source.column.length"
SOURCE_SCALE = "__debezium.source.column.scale"
# MySQL's DECIMAL without a precision is DECIMAL(10, 0).
MYSQL_DEFAULT_DECIMAL = (10, 0)
EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_SQL = "TIMESTAMP_NTZ'1970-01-01 00:00:00'"


def parameters(field: Field) -> dict[str, str]:
    return dict(field.get("parameters") or {})


def quote(name: str) -> str:
    """A Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def decimal_shape(field: Field) -> tuple[int, int]:
    """Precision and scale: a Connect Decimal's parameters, or the source column's (decimals sent as strings)."""
    params = parameters(field)
    if field.get("name") == DECIMAL:
        return int(params.get("connect.decimal.precision", MAX_DECIMAL_PRECISION)), int(params.get("scale", 0))
    return (
        int(params.get(SOURCE_LENGTH, MYSQL_DEFAULT_DECIMAL[0])),
        int(params.get(SOURCE_SCALE, MYSQL_DEFAULT_DECIMAL[1])),
    )


def source_type(field: Field) -> str:
    return parameters(field).get(SOURCE_TYPE, "").upper()


def _struct_fields(field: Field) -> list[Field]:
    return list(field.get("fields") or [])


# Logical names Debezium and Kafka Connect give a column's schema.
DECIMAL = "org.apache.kafka.connect.data.Decimal"
DATE = "io.debezium.time.Date"
TIMESTAMP = "io.debezium.time.Timestamp"
MICRO_TIMESTAMP = "io.debezium.time.MicroTimestamp"
ZONED_TIMESTAMP = "io.debezium.time.ZonedTimestamp"
MICRO_TIME = "io.debezium.time.MicroTime"
YEAR = "io.debezium.time.Year"
BITS = "io.debezium.data.Bits"
ENUM = "io.debezium.data.Enum"
ENUM_SET = "io.debezium.data.EnumSet"
JSON = "io.debezium.data.Json"
GEOMETRY = "io.debezium.data.geometry.Geometry"
POINT = "io.debezium.data.geometry.Point"
FLOAT_VECTOR = "io.debezium.data.FloatVector"


@dataclass(frozen=True)
class Rule:
    """How one kind of column travels: what it matches, its Delta type, the JSON value's wire type and the SQL that
    converts it, the Python value of the JSON value, and its README row (MySQL types, Debezium's type, why)."""

    mysql: str
    debezium: str
    matches: Callable[[Field], bool]
    delta: Callable[[Field], str]
    wire: Callable[[Field], str]
    convert: Callable[[str, Field], str]
    decode: Callable[[Any, Field], Any]
    delta_doc: str
    why: str = ""


def _is(name: str) -> Callable[[Field], bool]:
    return lambda field: field.get("name") == name


def _literal(kind: str) -> Callable[[Field], bool]:
    return lambda field: not field.get("name") and field.get("type") == kind


def _same(sql: str, field: Field) -> str:
    return sql


def _keep(value: Any, field: Field) -> Any:
    return value


def _decimal_type(field: Field) -> str:
    precision, scale = decimal_shape(field)
    return f"decimal({precision},{scale})" if precision <= MAX_DECIMAL_PRECISION else "string"


def _string_decimal(field: Field) -> bool:
    return not field.get("name") and field.get("type") == "string" and source_type(field) in ("DECIMAL", "NUMERIC")


def _bits_big_endian(sql: str, field: Field) -> str:
    # Debezium sends BIT(n) little-endian (least significant byte first); MySQL shows it most significant first.
    return f"unhex(array_join(reverse(regexp_extract_all(hex(unbase64({sql})), '(..)', 1)), ''))"


def _set_members(sql: str, field: Field) -> str:
    empty = "CAST(array() AS array<string>)"
    return f"CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} = '' THEN {empty} ELSE split({sql}, ',') END"


def _struct_delta(field: Field) -> str:
    return "struct<" + ",".join(f"{sub['field']}:{delta_type(sub)}" for sub in _struct_fields(field)) + ">"


def _struct_wire(field: Field) -> str:
    return "struct<" + ",".join(f"{quote(sub['field'])}:{wire_type(sub)}" for sub in _struct_fields(field)) + ">"


def _struct_convert(sql: str, field: Field) -> str:
    parts = []
    for sub in _struct_fields(field):
        member = sql + "." + quote(sub["field"])
        parts.append(f"'{sub['field']}', {to_delta(member, sub)}")
    return f"CASE WHEN {sql} IS NULL THEN NULL ELSE named_struct({', '.join(parts)}) END"


def _struct_decode(value: Any, field: Field) -> Any:
    return (
        None if value is None else {sub["field"]: decode(value.get(sub["field"]), sub) for sub in _struct_fields(field)}
    )


def _array_convert(sql: str, field: Field) -> str:
    inner = to_delta("x", field["items"])
    return sql if inner == "x" else f"transform({sql}, x -> {inner})"


def _b64(value: Any, field: Field) -> Any:
    return None if value is None else base64.b64decode(value)


RULES: tuple[Rule, ...] = (
    Rule(
        mysql="DECIMAL(p,s), NUMERIC(p,s), p <= 38",
        debezium="STRING (`decimal.handling.mode=string`), precision and scale propagated",
        matches=lambda f: _string_decimal(f) and decimal_shape(f)[0] <= MAX_DECIMAL_PRECISION,
        delta=_decimal_type,
        wire=lambda f: "string",
        convert=lambda sql, f: f"CAST({sql} AS {_decimal_type(f)})",
        decode=lambda v, f: None if v is None else decimal.Decimal(v),
        delta_doc="decimal(p,s)",
        why="exact: Debezium's exact text, cast to the column's own precision and scale",
    ),
    Rule(
        mysql="DECIMAL(p,s), NUMERIC(p,s), p > 38",
        debezium="STRING, precision and scale propagated",
        matches=_string_decimal,
        delta=lambda f: "string",
        wire=lambda f: "string",
        convert=_same,
        decode=lambda v, f: None if v is None else decimal.Decimal(v),
        delta_doc="string",
        why="Delta's decimals end at precision 38 (MySQL's at 65): the exact text, to read as a decimal",
    ),
    Rule(
        mysql="BIGINT UNSIGNED",
        debezium="`org.apache.kafka.connect.data.Decimal` (`bigint.unsigned.handling.mode=precise`), a JSON number",
        matches=_is(DECIMAL),
        delta=_decimal_type,
        wire=_decimal_type,
        convert=_same,
        decode=lambda v, f: None if v is None else decimal.Decimal(str(v)),
        delta_doc="decimal(20,0)",
        why="Delta has no unsigned 64-bit integer: up to 18446744073709551615 exactly",
    ),
    Rule(
        mysql="DATE",
        debezium="INT32 `io.debezium.time.Date` (days since 1970-01-01)",
        matches=_is(DATE),
        delta=lambda f: "date",
        wire=lambda f: "int",
        convert=lambda sql, f: f"date_from_unix_date({sql})",
        decode=lambda v, f: None if v is None else EPOCH_DATE + datetime.timedelta(days=v),
        delta_doc="date",
        why="a zero date (0000-00-00, where the sql_mode admits one) arrives as NULL, or as 1970-01-01 in a NOT NULL "
        "column: it has no Delta (nor Debezium) value",
    ),
    Rule(
        mysql="DATETIME, DATETIME(0) .. DATETIME(3)",
        debezium="INT64 `io.debezium.time.Timestamp` (milliseconds, no time zone)",
        matches=_is(TIMESTAMP),
        delta=lambda f: "timestamp_ntz",
        wire=lambda f: "bigint",
        convert=lambda sql, f: f"timestampadd(MILLISECOND, {sql}, {EPOCH_SQL})",
        decode=lambda v, f: None if v is None else EPOCH + datetime.timedelta(milliseconds=v),
        delta_doc="timestamp_ntz",
        why="DATETIME has no time zone, nor has timestamp_ntz: the wall-clock value MySQL holds; zero dates as DATE",
    ),
    Rule(
        mysql="DATETIME(4) .. DATETIME(6)",
        debezium="INT64 `io.debezium.time.MicroTimestamp` (microseconds, no time zone)",
        matches=_is(MICRO_TIMESTAMP),
        delta=lambda f: "timestamp_ntz",
        wire=lambda f: "bigint",
        convert=lambda sql, f: f"timestampadd(MICROSECOND, {sql}, {EPOCH_SQL})",
        decode=lambda v, f: None if v is None else EPOCH + datetime.timedelta(microseconds=v),
        delta_doc="timestamp_ntz",
        why="as DATETIME(0..3), to the microsecond",
    ),
    Rule(
        mysql="TIMESTAMP, TIMESTAMP(0) .. TIMESTAMP(6)",
        debezium="STRING `io.debezium.time.ZonedTimestamp` (ISO 8601, UTC)",
        matches=_is(ZONED_TIMESTAMP),
        delta=lambda f: "timestamp",
        wire=lambda f: "string",
        convert=lambda sql, f: f"CAST({sql} AS timestamp)",
        decode=lambda v, f: None if v is None else datetime.datetime.fromisoformat(v),
        delta_doc="timestamp",
        why="an instant: MySQL converts it from the session's time zone to UTC, and Delta's timestamp is UTC",
    ),
    Rule(
        mysql="TIME, TIME(0) .. TIME(6)",
        debezium="INT64 `io.debezium.time.MicroTime` (microseconds)",
        matches=_is(MICRO_TIME),
        delta=lambda f: "bigint",
        wire=lambda f: "bigint",
        convert=_same,
        decode=lambda v, f: None if v is None else datetime.timedelta(microseconds=v),
        delta_doc="bigint (microseconds)",
        why="Delta has no time type, and MySQL's TIME is a signed duration (-838:59:59 to 838:59:59): its microseconds",
    ),
    Rule(
        mysql="YEAR",
        debezium="INT32 `io.debezium.time.Year`",
        matches=_is(YEAR),
        delta=lambda f: "int",
        wire=lambda f: "int",
        convert=_same,
        decode=_keep,
        delta_doc="int",
        why="Delta has no year type: the year as a number, 1901 to 2155; YEAR 0000 does not arrive (Debezium 3.5's "
        "MariaDB snapshot fails on it, its stream sends 1900)",
    ),
    Rule(
        mysql="BOOLEAN, BOOL (in the stream)",
        debezium="BOOLEAN, source type BOOLEAN propagated",
        matches=lambda f: _literal("boolean")(f) and source_type(f) in ("BOOLEAN", "BOOL"),
        delta=lambda f: "smallint",
        wire=lambda f: "boolean",
        convert=lambda sql, f: f"CAST({sql} AS smallint)",
        decode=lambda v, f: None if v is None else int(v),
        delta_doc="smallint",
        why="MySQL's BOOLEAN is TINYINT(1): Debezium's snapshot sends the number, its stream a boolean; both are "
        "the number here (a BOOLEAN column holding another number than 0 or 1 arrives as 1 from the stream)",
    ),
    Rule(
        mysql="BIT(1)",
        debezium="BOOLEAN",
        matches=_literal("boolean"),
        delta=lambda f: "boolean",
        wire=lambda f: "boolean",
        convert=_same,
        decode=_keep,
        delta_doc="boolean",
    ),
    Rule(
        mysql="BIT(2) .. BIT(64)",
        debezium="BYTES `io.debezium.data.Bits` (little-endian)",
        matches=_is(BITS),
        delta=lambda f: "binary",
        wire=lambda f: "string",
        convert=_bits_big_endian,
        decode=lambda v, f: None if v is None else base64.b64decode(v)[::-1],
        delta_doc="binary",
        why="Delta has no bit type: the bits as bytes, most significant first, as MySQL shows them",
    ),
    Rule(
        mysql="ENUM",
        debezium="STRING `io.debezium.data.Enum` (the allowed values in its parameters)",
        matches=_is(ENUM),
        delta=lambda f: "string",
        wire=lambda f: "string",
        convert=_same,
        decode=_keep,
        delta_doc="string",
        why="Delta has no enum type: the value's name",
    ),
    Rule(
        mysql="SET",
        debezium="STRING `io.debezium.data.EnumSet` (comma-separated)",
        matches=_is(ENUM_SET),
        delta=lambda f: "array<string>",
        wire=lambda f: "string",
        convert=_set_members,
        decode=lambda v, f: None if v is None else ([] if v == "" else v.split(",")),
        delta_doc="array<string>",
        why="Delta has no set type: the members, in the order the column defines them",
    ),
    Rule(
        mysql="JSON (MySQL; MariaDB's JSON is LONGTEXT)",
        debezium="STRING `io.debezium.data.Json`",
        matches=_is(JSON),
        delta=lambda f: "string",
        wire=lambda f: "string",
        convert=_same,
        decode=_keep,
        delta_doc="string",
        why="the document's text: Delta's variant type is one delta-rs cannot read",
    ),
    Rule(
        mysql="GEOMETRY, LINESTRING, POLYGON, MULTIPOINT, MULTILINESTRING, MULTIPOLYGON, GEOMETRYCOLLECTION",
        debezium="STRUCT `io.debezium.data.geometry.Geometry` (wkb, srid)",
        matches=_is(GEOMETRY),
        delta=_struct_delta,
        wire=_struct_wire,
        convert=_struct_convert,
        decode=_struct_decode,
        delta_doc="struct<wkb:binary,srid:int>",
        why="Delta has no spatial type: the OGC well-known binary and the SRID, as Debezium sends them",
    ),
    Rule(
        mysql="POINT",
        debezium="STRUCT `io.debezium.data.geometry.Point` (x, y, wkb, srid)",
        matches=_is(POINT),
        delta=_struct_delta,
        wire=_struct_wire,
        convert=_struct_convert,
        decode=_struct_decode,
        delta_doc="struct<x:double,y:double,wkb:binary,srid:int>",
        why="as GEOMETRY, with the coordinates; Debezium sends the SRID 0 as NULL",
    ),
    Rule(
        mysql="VECTOR(n) (MariaDB 11.7+)",
        debezium="ARRAY of FLOAT32 `io.debezium.data.FloatVector`",
        matches=_is(FLOAT_VECTOR),
        delta=lambda f: f"array<{delta_type(f['items'])}>",
        wire=lambda f: f"array<{wire_type(f['items'])}>",
        convert=_array_convert,
        decode=lambda v, f: None if v is None else [decode(x, f["items"]) for x in v],
        delta_doc="array<float>",
    ),
    Rule(
        mysql="TINYINT (on newer Debezium releases)",
        debezium="INT8",
        matches=_literal("int8"),
        delta=lambda f: "tinyint",
        wire=lambda f: "tinyint",
        convert=_same,
        decode=_keep,
        delta_doc="tinyint",
    ),
    Rule(
        mysql="TINYINT, TINYINT UNSIGNED, SMALLINT, BOOLEAN (in a snapshot: TINYINT(1))",
        debezium="INT16",
        matches=_literal("int16"),
        delta=lambda f: "smallint",
        wire=lambda f: "smallint",
        convert=_same,
        decode=_keep,
        delta_doc="smallint",
        why="BOOLEAN is MySQL's TINYINT(1): a number, as MySQL returns it (see BOOLEAN above)",
    ),
    Rule(
        mysql="SMALLINT UNSIGNED, MEDIUMINT, MEDIUMINT UNSIGNED, INT",
        debezium="INT32",
        matches=_literal("int32"),
        delta=lambda f: "int",
        wire=lambda f: "int",
        convert=_same,
        decode=_keep,
        delta_doc="int",
    ),
    Rule(
        mysql="INT UNSIGNED, BIGINT",
        debezium="INT64",
        matches=_literal("int64"),
        delta=lambda f: "bigint",
        wire=lambda f: "bigint",
        convert=_same,
        decode=_keep,
        delta_doc="bigint",
    ),
    Rule(
        mysql="FLOAT, FLOAT(0) .. FLOAT(23); REAL in the stream",
        debezium="FLOAT32",
        matches=lambda f: not f.get("name") and f.get("type") in ("float", "float32"),
        delta=lambda f: "float",
        wire=lambda f: "float",
        convert=_same,
        decode=lambda v, f: None if v is None else float(v),
        delta_doc="float",
        why="Debezium's snapshot reads a FLOAT as the server prints it, to 6 significant digits (its stream reads the "
        "exact value). MySQL's and MariaDB's REAL is a DOUBLE, but Debezium's stream takes REAL from the CREATE TABLE "
        "it read as a FLOAT and rounds the value to 32 bits (its snapshot reads DOUBLE): declare DOUBLE",
    ),
    Rule(
        mysql="DOUBLE, FLOAT(24) .. FLOAT(53), FLOAT(M,D); REAL in a snapshot",
        debezium="FLOAT64",
        matches=lambda f: not f.get("name") and f.get("type") in ("double", "float64"),
        delta=lambda f: "double",
        wire=lambda f: "double",
        convert=_same,
        decode=lambda v, f: None if v is None else float(v),
        delta_doc="double",
    ),
    Rule(
        mysql="CHAR, VARCHAR, TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT",
        debezium="STRING",
        matches=_literal("string"),
        delta=lambda f: "string",
        wire=lambda f: "string",
        convert=_same,
        decode=_keep,
        delta_doc="string",
        why="a length limit is MySQL's to enforce: VARCHAR(20) to VARCHAR(200) changes nothing in Delta",
    ),
    Rule(
        mysql="BINARY, VARBINARY, TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB",
        debezium="BYTES (`binary.handling.mode=bytes`; base64 in JSON)",
        matches=_literal("bytes"),
        delta=lambda f: "binary",
        wire=lambda f: "string",
        convert=lambda sql, f: f"unbase64({sql})",
        decode=_b64,
        delta_doc="binary",
    ),
    Rule(
        mysql="(a nested struct: a Debezium type not above)",
        debezium="STRUCT",
        matches=lambda f: f.get("type") == "struct",
        delta=_struct_delta,
        wire=_struct_wire,
        convert=_struct_convert,
        decode=_struct_decode,
        delta_doc="struct<...>",
    ),
    Rule(
        mysql="(an array: a Debezium type not above)",
        debezium="ARRAY",
        matches=lambda f: f.get("type") == "array",
        delta=lambda f: f"array<{delta_type(f['items'])}>",
        wire=lambda f: f"array<{wire_type(f['items'])}>",
        convert=_array_convert,
        decode=lambda v, f: None if v is None else [decode(x, f["items"]) for x in v],
        delta_doc="array<...>",
    ),
)


class UnmappedType(ValueError):
    """A column whose schema no rule maps: the message names it and its schema."""


def rule_for(field: Field) -> Rule:
    for rule in RULES:
        if rule.matches(field):
            return rule
    # A logical type this table does not know: its literal type still says how it travels.
    if field.get("name"):
        return rule_for({key: value for key, value in field.items() if key != "name"})
    raise UnmappedType(f"column {field.get('field')!r}: no Delta type for its schema {field}")


def delta_type(field: Field) -> str:
    """The Delta column's type, as Spark spells it (``DataType.simpleString``)."""
    return rule_for(field).delta(field)


def wire_type(field: Field) -> str:
    """The Spark SQL type ``from_json`` reads the column's JSON value as."""
    return rule_for(field).wire(field)


def to_delta(sql: str, field: Field) -> str:
    """The Spark SQL expression that makes the Delta value of the wire value ``sql``."""
    return rule_for(field).convert(sql, field)


def decode(value: Any, field: Field) -> Any:
    """The Python value of a column's JSON value (decimals exact, dates and times as ``datetime`` values)."""
    return None if value is None else rule_for(field).decode(value, field)


def row_fields(envelope: dict[str, Any]) -> list[Field]:
    """The table's columns, in the table's order, from a change event's value schema (its ``after`` struct)."""
    for field in envelope.get("fields", []):
        if field.get("field") in ("after", "before") and field.get("type") == "struct":
            return _struct_fields(field)
    raise UnmappedType(f"the schema {envelope.get('name')!r} has no before/after struct: not a Debezium change event")


def decode_row(image: dict[str, Any] | None, fields: list[Field]) -> dict[str, Any] | None:
    """A before or after image with every column decoded (``decode``)."""
    if image is None:
        return None
    return {field["field"]: decode(image.get(field["field"]), field) for field in fields}


def readme_table() -> str:
    """The README's type table: each MySQL/MariaDB type, how Debezium sends it, its Delta type, and why."""
    lines = ["| MySQL / MariaDB | Debezium sends | Delta | why |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        lines.append(f"| {rule.mysql} | {rule.debezium} | `{rule.delta_doc}` | {rule.why} |")
    return "\n".join(lines)
