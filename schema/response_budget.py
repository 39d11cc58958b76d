"""The response-budget schema extension: each operation on a WebSocket gets a budget of its own.

On HTTP the context, and with it the budget (``resolvers.budget``), is made per request. A
WebSocket's context serves every operation on the socket; Strawberry runs each operation in a
task of its own, and this hook, run in that task before any field, gives the operation its
budget there.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from resolvers.context import Context


class OperationBudget(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.begin_operation()
        yield
