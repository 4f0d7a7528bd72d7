"""Tables from the user's infrastructure code: read CloudFormation/SAM templates and Terraform files.

:func:`load` turns the files given to ``--dynamodb-tables`` into :class:`TableSpec` objects (the
``CreateTable`` request of each declared table); :mod:`pytest_dualmode.tables.local` creates them in
the local DynamoDB and empties or recreates them between tests.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_dualmode.tables.model import TableError, TableSpec

__all__ = ["TableError", "TableSpec", "load", "load_file"]


def load_file(path: str, region: str, shown: str | None = None) -> list[TableSpec]:
    """The tables declared in one file: Terraform when it ends in ``.tf``, else a CloudFormation template."""
    shown = shown or path
    try:
        with open(path, encoding="utf-8-sig") as fh:  # a byte order mark is not part of the text
            text = fh.read()
    except OSError as exc:
        raise TableError(f"{shown}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise TableError(f"{shown}: is not UTF-8 text") from None
    if not text.strip():
        raise TableError(
            f"{shown}: is empty; give a CloudFormation/SAM template or a Terraform file declaring the tables"
        )
    if path.endswith(".tf"):
        from pytest_dualmode.tables.terraform import load_terraform, tables_in_terraform

        specs = tables_in_terraform(load_terraform(text, shown), shown)
        kinds = "aws_dynamodb_table resources"
    else:
        from pytest_dualmode.tables.cloudformation import load_template, tables_in

        specs = tables_in(load_template(text, shown), shown, region)
        kinds = "AWS::DynamoDB::Table, AWS::DynamoDB::GlobalTable or AWS::Serverless::SimpleTable resources"
    if not specs:
        raise TableError(f"{shown}: declares no DynamoDB tables (no {kinds}); drop it from --dynamodb-tables")
    return specs


def load(paths: Iterable[str], region: str) -> list[TableSpec]:
    """Every table of every file, refusing a table name declared twice."""
    specs: list[TableSpec] = []
    seen: dict[str, TableSpec] = {}
    for path in paths:
        for spec in load_file(path, region):
            if spec.name in seen:
                raise TableError(
                    f"table {spec.name!r} is declared twice: {seen[spec.name].where} and {spec.where}; "
                    "give --dynamodb-tables each table once"
                )
            seen[spec.name] = spec
            specs.append(spec)
    return specs
