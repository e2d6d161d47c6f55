"""Which AWS actions the deployed code calls, found by reading it (AST), not by running it.

The Lambda runs what ``app.py`` imports, directly or inside a function: those modules of
``chalicelib`` are read (the editor CLI's modules, run with the editor's own credentials,
are not). In them:

- boto3: ``aws.client("s3").put_object(...)``, also through a name or ``self._s3`` bound to
  such a client, and ``get_paginator("op")``; the operation becomes its IAM action
  (``sesv2`` is IAM's ``ses``; a few S3/SQS operations are authorised as another action).
- pynamodb: class operations (``Model.get/query/scan/count/batch_get/batch_write``), index
  queries (``Model.some_index.query``), instance operations (``item.save/update/delete/
  refresh``) and transactions (``TransactWrite``'s, or our named ``Transaction``'s,
  ``save/update/delete/condition_check``,
  ``TransactGet``'s ``get``), each on the model's table. The receiver's model is inferred
  from what the code says: ``Model(...)``, ``Model.get(...)``, annotations (``x: Model``,
  ``model: type[Model]``), loops over queries, ``with`` targets, ``self.attr = ...``.

A call whose receiver cannot be inferred is not counted, so write code the reader can
follow (annotate). ``python -m devtools.aws_actions`` prints every call found.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "chalicelib"

# boto3 service name -> IAM service prefix, where they differ.
IAM_PREFIX = {"sesv2": "ses"}
# Operations IAM authorises as another action.
AUTHORISED_AS = {
    "s3.HeadObject": "s3:GetObject",
    "s3.HeadBucket": "s3:ListBucket",
    "s3.ListObjectsV2": "s3:ListBucket",
    "s3.ListObjects": "s3:ListBucket",
    "s3.DeleteObjects": "s3:DeleteObject",
    "s3.CopyObject": "s3:PutObject",
    "sqs.SendMessageBatch": "sqs:SendMessage",
    "sqs.DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs.ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# Operations IAM authorises as more than one action: SES v2 SendEmail with raw MIME
# content is checked as ses:SendRawEmail as well.
ALSO_AUTHORISED_AS = {"sesv2.SendEmail": ["ses:SendRawEmail"]}
# boto3's transfer helpers: method -> the actions they make.
S3_TRANSFER = {"upload_file": "PutObject", "upload_fileobj": "PutObject",
               "download_file": "GetObject", "download_fileobj": "GetObject"}

MODEL_CLASS_OPS = {"get": "GetItem", "query": "Query", "scan": "Scan", "count": "Query",
                   "batch_get": "BatchGetItem", "batch_write": "BatchWriteItem"}
INDEX_OPS = {"query": "Query", "scan": "Scan", "count": "Query"}
INSTANCE_OPS = {"save": "PutItem", "update": "UpdateItem", "delete": "DeleteItem", "refresh": "GetItem"}
# ``record``: chalicelib.stats.counting's CountedTransaction saves a ledger event (and its
# counters, site-table updates inside the class) with it.
TRANSACT_WRITE_OPS = {"save": "PutItem", "record": "PutItem", "update": "UpdateItem", "delete": "DeleteItem"}


@dataclass(frozen=True)
class Call:
    action: str  # "dynamodb:Query"
    resource: str | None  # table name template, "borgerdialog-${Stage}-articles[/index/x]"
    where: str  # "chalicelib/articles.py:71"


# What an expression is, as far as the reader can tell.
@dataclass(frozen=True)
class ModelClass:
    name: str


@dataclass(frozen=True)
class Instance:
    name: str


@dataclass(frozen=True)
class Index:
    model: str
    index_name: str


@dataclass(frozen=True)
class Batch:
    model: str


@dataclass(frozen=True)
class Transaction:
    kind: str  # "write" | "get"


@dataclass(frozen=True)
class Client:
    service: str


Kind = ModelClass | Instance | Index | Batch | Transaction | Client


@dataclass
class Models:
    """Model class name -> table template; index attribute -> (model, index name)."""

    tables: dict[str, str] = field(default_factory=dict)
    indexes: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Models:
        from pynamodb.indexes import Index as PynamoIndex

        from chalicelib.core.config import get_settings
        from devtools.models import all_models

        prefix = f"borgerdialog-{get_settings().stage}-"
        found = cls()
        for model in all_models(editor=False):
            table = getattr(getattr(model, "Meta", None), "table_name", None)
            if not table:
                continue
            if model.__name__ in found.tables:
                raise ValueError(f"two models named {model.__name__}: the reader cannot tell them apart")
            found.tables[model.__name__] = "borgerdialog-${Stage}-" + table.removeprefix(prefix)
            for attr, value in vars(model).items():
                if isinstance(value, PynamoIndex):
                    found.indexes[(model.__name__, attr)] = value.Meta.index_name
        return found


def _operation_actions(service: str, method: str) -> list[str]:
    """IAM actions of a boto3 client method, through botocore's own name mapping."""
    if service == "s3" and method in S3_TRANSFER:
        return [f"s3:{S3_TRANSFER[method]}"]
    operation = _operations(service).get(method)
    if operation is None:
        return []  # not an API call (get_paginator, can_paginate, meta, exceptions, ...)
    authorised = AUTHORISED_AS.get(f"{service}.{operation}")
    if authorised:
        return [authorised] + (["s3:GetObject"] if operation == "CopyObject" else [])
    return [f"{IAM_PREFIX.get(service, service)}:{operation}",
            *ALSO_AUTHORISED_AS.get(f"{service}.{operation}", [])]


_OPERATIONS: dict[str, dict[str, str]] = {}


def _operations(service: str) -> dict[str, str]:
    if service not in _OPERATIONS:
        import botocore.session
        from botocore import xform_name

        model = botocore.session.get_session().get_service_model(service)
        _OPERATIONS[service] = {xform_name(name): name for name in model.operation_names}
    return _OPERATIONS[service]


class _Scope:
    """Names bound in one function (or module), each to the kinds it may hold."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent = parent
        self.names: dict[str, set[Kind]] = {}

    def bind(self, name: str, kinds: set[Kind]) -> None:
        if kinds:
            self.names.setdefault(name, set()).update(kinds)

    def lookup(self, name: str) -> set[Kind]:
        if name in self.names:
            return self.names[name]
        return self.parent.lookup(name) if self.parent else set()


class _ModuleReader:
    def __init__(self, path: Path, models: Models) -> None:
        self.path = path
        self.rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        self.models = models
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.calls: list[Call] = []
        self.module_scope = _Scope()
        self.aws_module_names: set[str] = set()  # names bound to chalicelib.aws
        self.client_functions: set[str] = set()  # names bound to chalicelib.aws.client

    # --- what an expression is ------------------------------------------------
    def kinds(self, node: ast.expr | None, scope: _Scope, self_attrs: dict[str, set[Kind]]) -> set[Kind]:
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            if node.id in self.models.tables and not scope.lookup(node.id):
                return {ModelClass(node.id)}
            return scope.lookup(node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return self_attrs.get(node.attr, set())
            found: set[Kind] = set()
            for kind in self.kinds(node.value, scope, self_attrs):
                if isinstance(kind, ModelClass | Instance):
                    index = self.models.indexes.get((kind.name, node.attr))
                    if index:
                        found.add(Index(kind.name, index))
            return found
        if isinstance(node, ast.Call):
            return self._call_result(node, scope, self_attrs)
        if isinstance(node, ast.IfExp):
            return self.kinds(node.body, scope, self_attrs) | self.kinds(node.orelse, scope, self_attrs)
        if isinstance(node, ast.BoolOp):
            return set().union(*(self.kinds(value, scope, self_attrs) for value in node.values))
        return set()

    def _call_result(self, node: ast.Call, scope: _Scope, self_attrs: dict[str, set[Kind]]) -> set[Kind]:
        service = self._client_service(node)
        if service:
            return {Client(service)}
        func = node.func
        if isinstance(func, ast.Name) and func.id in {"TransactWrite", "Transaction", "CountedTransaction",
                                                      "TransactGet"}:
            # Transaction: chalicelib.core.conditions's named TransactWrite, same methods;
            # CountedTransaction (chalicelib.stats.counting) is one that also counts.
            return {Transaction("get" if func.id == "TransactGet" else "write")}
        found: set[Kind] = set()
        for kind in self.kinds(func, scope, self_attrs):
            if isinstance(kind, ModelClass):
                found.add(Instance(kind.name))  # Model(...)
        if isinstance(func, ast.Attribute):
            for kind in self.kinds(func.value, scope, self_attrs):
                if isinstance(kind, ModelClass) and func.attr in {"get", "query", "scan", "batch_get"}:
                    found.add(Instance(kind.name))
                elif isinstance(kind, ModelClass) and func.attr == "batch_write":
                    found.add(Batch(kind.name))
                elif isinstance(kind, Index) and func.attr in {"query", "scan"}:
                    found.add(Instance(kind.model))
        return found

    def _client_service(self, node: ast.Call) -> str | None:
        func = node.func
        is_client = (
            (isinstance(func, ast.Attribute) and func.attr == "client"
             and isinstance(func.value, ast.Name) and func.value.id in self.aws_module_names)
            or (isinstance(func, ast.Name) and func.id in self.client_functions)
        )
        if is_client and node.args and isinstance(node.args[0], ast.Constant):
            return str(node.args[0].value)
        return None

    def annotation_kinds(self, node: ast.expr | None) -> set[Kind]:
        """``Model``, ``Model | None``, ``Optional[Model]``, ``type[Model]``, ``list[Model]``."""
        if node is None:
            return set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.annotation_kinds(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return set()
        if isinstance(node, ast.Name) and node.id in self.models.tables:
            return {Instance(node.id)}
        if isinstance(node, ast.BinOp):
            return self.annotation_kinds(node.left) | self.annotation_kinds(node.right)
        if isinstance(node, ast.Subscript):
            outer = node.value.id if isinstance(node.value, ast.Name) else ""
            inner = self.annotation_kinds(node.slice)
            if outer == "type":
                return {ModelClass(kind.name) for kind in inner if isinstance(kind, Instance)}
            return inner
        if isinstance(node, ast.Tuple):
            return set().union(*(self.annotation_kinds(item) for item in node.elts))
        return set()

    # --- reading ----------------------------------------------------------------
    def read(self) -> list[Call]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module == f"{PACKAGE}.core":
                for alias in node.names:
                    if alias.name == "aws":
                        self.aws_module_names.add(alias.asname or "aws")
            elif isinstance(node, ast.ImportFrom) and node.module == f"{PACKAGE}.core.aws":
                for alias in node.names:
                    if alias.name == "client":
                        self.client_functions.add(alias.asname or "client")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == f"{PACKAGE}.core.aws" and alias.asname:
                        self.aws_module_names.add(alias.asname)
        self._body(self.tree.body, self.module_scope, {})
        return self.calls

    def _class_self_attrs(self, cls: ast.ClassDef) -> dict[str, set[Kind]]:
        """``self.attr = ...`` anywhere in the class, and class-level annotations."""
        attrs: dict[str, set[Kind]] = {}
        for _ in range(2):  # twice: an attribute may be bound from another
            for item in cls.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    attrs.setdefault(item.target.id, set()).update(self.annotation_kinds(item.annotation))
                if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                scope = self._function_scope(item, self.module_scope, attrs)
                for node in ast.walk(item):
                    targets: list[ast.expr] = []
                    value: ast.expr | None = None
                    if isinstance(node, ast.Assign):
                        targets, value = node.targets, node.value
                    elif isinstance(node, ast.AnnAssign):
                        targets, value = [node.target], node.value
                        annotated = node.target
                        if (isinstance(annotated, ast.Attribute) and isinstance(annotated.value, ast.Name)
                                and annotated.value.id == "self"):
                            attrs.setdefault(annotated.attr, set()).update(
                                self.annotation_kinds(node.annotation))
                    for target in targets:
                        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                                and target.value.id == "self"):
                            attrs.setdefault(target.attr, set()).update(self.kinds(value, scope, attrs))
        return attrs

    def _function_scope(self, func: ast.FunctionDef | ast.AsyncFunctionDef, parent: _Scope,
                        self_attrs: dict[str, set[Kind]]) -> _Scope:
        scope = _Scope(parent)
        arguments = func.args
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            scope.bind(arg.arg, self.annotation_kinds(arg.annotation))
        # Twice, so a name bound from a later-bound name is known (loops, reassignments).
        for _ in range(2):
            for node in ast.walk(func):
                self._bind(node, scope, self_attrs)
        return scope

    def _bind(self, node: ast.AST, scope: _Scope, self_attrs: dict[str, set[Kind]]) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, node.value, scope, self_attrs)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            scope.bind(node.target.id, self.annotation_kinds(node.annotation))
            if node.value is not None:
                scope.bind(node.target.id, self.kinds(node.value, scope, self_attrs))
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            iterated: set[Kind] = {Instance(kind.name) for kind in self.kinds(node.iter, scope, self_attrs)
                        if isinstance(kind, Instance)}
            if isinstance(node.target, ast.Name):
                scope.bind(node.target.id, iterated)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name):
                    scope.bind(item.optional_vars.id, self.kinds(item.context_expr, scope, self_attrs))
        elif isinstance(node, ast.NamedExpr):
            scope.bind(node.target.id, self.kinds(node.value, scope, self_attrs))

    def _bind_target(self, target: ast.expr, value: ast.expr, scope: _Scope,
                     self_attrs: dict[str, set[Kind]]) -> None:
        if isinstance(target, ast.Name):
            scope.bind(target.id, self.kinds(value, scope, self_attrs))
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(
                value.elts):
            for sub_target, sub_value in zip(target.elts, value.elts, strict=True):
                self._bind_target(sub_target, sub_value, scope, self_attrs)

    def _body(self, body: list[ast.stmt], scope: _Scope, self_attrs: dict[str, set[Kind]]) -> None:
        for statement in body:
            if isinstance(statement, ast.ClassDef):
                attrs = self._class_self_attrs(statement)
                self._body(statement.body, scope, attrs)
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = self._function_scope(statement, scope, self_attrs)
                self._calls_in(statement, inner, self_attrs)
            else:
                self._bind(statement, scope, self_attrs)
                self._calls_in(statement, scope, self_attrs, shallow=True)

    def _calls_in(self, root: ast.AST, scope: _Scope, self_attrs: dict[str, set[Kind]],
                  shallow: bool = False) -> None:
        for node in ast.walk(root):
            if shallow and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                self._record(node, scope, self_attrs)

    def _record(self, node: ast.Call, scope: _Scope, self_attrs: dict[str, set[Kind]]) -> None:
        func = node.func
        assert isinstance(func, ast.Attribute)
        where = f"{self.rel}:{node.lineno}"
        method = func.attr
        for kind in self.kinds(func.value, scope, self_attrs):
            if isinstance(kind, Client):
                if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                    method = str(node.args[0].value)
                for action in _operation_actions(kind.service, method):
                    self.calls.append(Call(action, None, where))
            elif isinstance(kind, ModelClass) and method in MODEL_CLASS_OPS:
                self._table_call(MODEL_CLASS_OPS[method], kind.name, None, where)
            elif isinstance(kind, Index) and method in INDEX_OPS:
                self._table_call(INDEX_OPS[method], kind.model, kind.index_name, where)
            elif isinstance(kind, Instance) and method in INSTANCE_OPS:
                self._table_call(INSTANCE_OPS[method], kind.name, None, where)
            elif isinstance(kind, Transaction):
                first = node.args[0] if node.args else None
                self._transaction_call(kind, method, self.kinds(first, scope, self_attrs), where)

    def _transaction_call(self, kind: Transaction, method: str, targets: set[Kind], where: str) -> None:
        if kind.kind == "write" and method in TRANSACT_WRITE_OPS:
            action = TRANSACT_WRITE_OPS[method]
            models = {t.name for t in targets if isinstance(t, Instance)}
        elif kind.kind == "write" and method == "condition_check":
            action = "ConditionCheckItem"
            models = {t.name for t in targets if isinstance(t, ModelClass)}
        elif kind.kind == "get" and method == "get":
            action = "GetItem"
            models = {t.name for t in targets if isinstance(t, ModelClass)}
        else:
            return
        for model in models:
            self._table_call(action, model, None, where)

    def _table_call(self, action: str, model: str, index: str | None, where: str) -> None:
        table = self.models.tables[model]
        self.calls.append(Call(f"dynamodb:{action}", f"{table}/index/{index}" if index else table, where))


def lambda_modules(root: Path = ROOT) -> list[Path]:
    """Files of chalicelib the Lambda can run: app.py's imports, followed transitively,
    including imports inside functions (the lazy ones are the point of them)."""
    seen: set[Path] = set()
    pending = [root / "app.py"]
    while pending:
        path = pending.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    pending.extend(_module_files(root, name))
    return sorted(seen)


def _module_files(root: Path, dotted: str) -> Iterator[Path]:
    parts = dotted.split(".")
    base = root.joinpath(*parts)
    yield base.with_suffix(".py")
    yield base / "__init__.py"
    # Parent packages run too (their __init__).
    for depth in range(1, len(parts)):
        yield root.joinpath(*parts[:depth]) / "__init__.py"


def code_calls(root: Path = ROOT) -> list[Call]:
    models = Models.load()
    calls: list[Call] = []
    for path in lambda_modules(root):
        calls.extend(_ModuleReader(path, models).read())
    return calls


def main() -> None:
    for call in sorted(code_calls(), key=lambda c: (c.action, c.resource or "", c.where)):
        print(f"{call.action:32} {call.resource or '-':52} {call.where}")


if __name__ == "__main__":
    main()
