"""Cohorts: subscribers of the same operation share one execution and one encoding per event.

Subscribers whose document, operation name, variables and visibility (the key's tenant, or all
tenants for an admin key, and its scopes) are the same form a cohort. The cohort runs the
subscription once (its *producer*, with a context of its own) and encodes each result's
payload once; every member's transport splices its own operation id around those bytes
(``spliced_ws`` and ``spliced_multipart``), so a change event costs one execution and one JSON
encoding however many sockets watch it.

A member starts on a stream of its own: its backfill (``tail`` / ``after``) is its own, as
without cohorts. The producer's log stream has none: it starts where the log ends when it
opens (``Context.live_edge_only``), so a cohort runs live events only. A producer reading the
backfill as fast as the store answers would fill the queues of members reading at their
sockets' pace, overflow them and hold the log in memory. Meanwhile the cohort's results
queue for the member. Each message of a live stream is marked with the span of history it
covers (``live.positions``); as soon as the next queued shared result starts exactly where
the member's own last message ended, the member drops its own stream and goes on with the
shared results: no gap, no duplicate. A member whose own stream never meets the cohort's
(one that falls behind for good) simply stays on its own.

A log stream also says where it opened (``live.positions.opened``): a member whose own stream
opened exactly where the cohort's continues (nothing to catch up) joins before any message,
so the first event does not run one execution per member.

On the shared stream, the producer writes each event's messages to the members' sockets
itself (``Direct``: one write per member per event) when the server's WebSocket protocol
allows it; a member whose socket does not take them at once gets them through its queue and
its own task instead, until it has caught up.

Each member has a bounded queue. One that does not keep up is dropped alone, with the same
``SUBSCRIPTION_OVERFLOW`` error (and ``resumeAfter``) as without cohorts; the producer and
the other members never wait for it.

Cohorts are a fast path (``JOBGRAPH_FAST_PATHS``): with the fast paths off every subscriber
runs its own execution, and the messages are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextvars import Context as TaskContext
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.types import ExecutionResult

from domain.errors import SubscriptionOverflow
from live import positions
from live.turns import Pace
from resolvers.context import Context
from schema.document_limits import query_too_large
from schema.errors import label_errors, release_tracebacks
from server.request_context import SOCKET_SEND

# Root fields whose streams mark their messages (``live.positions``), so members can join.
COHORT_FIELDS = frozenset({"jobLogs", "jobLogBatches", "jobUpdated"})
# Documents whose shape was looked at (text -> root field or None), newest kept: at most this
# many, each at most this long (a longer one is parsed again each time, within the limits).
_SHAPES_KEPT = 512
_SHAPE_TEXT_KEPT = 8 * 1024


class SharedData(dict[str, Any]):
    """A shared result's ``data``: transports send ``payload`` (its encoded payload) as is."""

    __slots__ = ("payload",)
    payload: str


def spliced_ws(message: dict[str, Any], heads: dict[Any, str] | None = None) -> str | None:
    """The text of a WebSocket ``next``/``data`` message whose payload is shared, else None.

    ``heads``: a socket's encoded message heads by their fields (an operation's id and the
    message type), so each of its messages splices a head encoded once."""
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if type(data) is not SharedData:
        return None
    key = None if heads is None else _head_key(message)
    head = None if heads is None or key is None else heads.get(key)
    if head is None:
        # Both protocols put the payload last: '..."payload":0}'.
        head = orjson.dumps({**message, "payload": 0}).decode()[:-2]
        if heads is not None and key is not None:
            if len(heads) >= _HEADS_KEPT:
                heads.clear()
            heads[key] = head
    return head + data.payload + "}"


def _head_key(message: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """A message's fields before its payload, when they are all texts (a head's cache key)."""
    fields = tuple(message.items())
    if fields[-1][0] != "payload" or any(type(value) is not str for _, value in fields[:-1]):
        return None
    return fields[:-1]


# Results a producer offers its members at once, at most (``Cohorts._deliver``).
_BATCH = 64
# Heads a socket keeps (one per operation id and message type in use).
_HEADS_KEPT = 64


async def send_shared(websocket: WebSocket, text: str) -> None:
    """Sends a shared payload's text frame with the server's own ``send`` (``SOCKET_SEND``).

    A cohort's event goes to every member's socket; Starlette's and the middlewares' wrappers
    of ``send`` would take most of each frame's cost and do nothing with it. The socket's state
    is checked and a dead peer reported as Starlette's ``WebSocket.send`` does."""
    send = websocket.scope.get(SOCKET_SEND)
    if send is None or websocket.application_state is not WebSocketState.CONNECTED:
        await websocket.send_text(text)
        return
    try:
        await send({"type": "websocket.send", "text": text})
    except OSError:
        websocket.application_state = WebSocketState.DISCONNECTED
        raise WebSocketDisconnect(code=1006) from None


def spliced_multipart(value: object) -> bytes | None:
    """The encoded multipart part ``{"payload": ...}`` whose payload is shared, else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    payload = value.get("payload")
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if type(data) is not SharedData or set(payload) - {"data", "extensions"}:
        return None
    return b'{"payload":' + data.payload.encode() + b"}"


class _Overflowed(Exception):
    pass


_END = object()


class _Item:
    __slots__ = ("end", "result", "start", "text")

    def __init__(self, start: Any, end: Any, result: ExecutionResult) -> None:
        self.start, self.end, self.result = start, end, result
        # The encoded payload of a shared result (what a direct write sends), else None.
        data = result.data if isinstance(result, ExecutionResult) else None
        self.text: str | None = data.payload if type(data) is SharedData else None


class Direct:
    """A member's socket as the producer writes to it: ``write`` sends text frames at once
    (False when the socket cannot take them now), ``head`` opens the member's messages
    (``{"id":"…","type":"next","payload":``), ``alive`` says whether its operation still runs."""

    __slots__ = ("alive", "head", "write")

    def __init__(
        self, write: Callable[[Sequence[str]], bool], head: str, alive: Callable[[], bool]
    ) -> None:
        self.write, self.head, self.alive = write, head, alive


class _Feed:
    """One member's bounded queue of shared results, or its socket written directly.

    While ``writing`` (the member is on the shared stream, its queue is empty and its socket
    takes frames), the producer writes each shared result to the member's socket itself: one
    frame write per member per event, no task switch and none of the handler's per-message
    layers. As soon as a write is refused (the peer reads slowly, or the socket is closing),
    results queue again and the member's own task sends them, awaiting its socket as before,
    until its queue is empty again."""

    __slots__ = ("_max", "_ready", "direct", "last", "overflowed", "queue", "writing")

    def __init__(self, max_queue: int, direct: Direct | None = None) -> None:
        self._max = max_queue
        self.queue: deque[Any] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.direct = direct
        self.writing = False
        self.last: Any = None  # where the last message this member was sent ended

    def write_directly(self) -> None:
        """Called by the member with nothing queued and its last message sent."""
        self.writing = self.direct is not None and not self.queue and not self.overflowed

    def offer_all(self, items: list[_Item]) -> None:
        """Offers shared results in order: written to the socket together, or queued."""
        if self.writing and not self.overflowed:
            direct = self.direct
            if direct is not None and direct.alive():
                head = direct.head
                texts = [head + item.text + "}" for item in items if item.text is not None]
                if len(texts) == len(items) and direct.write(texts):
                    self.last = items[-1].end
                    return
            self.writing = False
        for item in items:
            self.offer(item)

    def offer(self, item: Any) -> None:
        if self.overflowed:
            return
        self.writing = False
        if len(self.queue) >= self._max and item is not _END:
            self.queue.clear()  # a dropped member holds no backlog
            self.overflowed = True
        else:
            self.queue.append(item)
        self._ready.set()

    def meets(self, last: Any) -> bool:
        """Drop what the member already has; True when the next result starts at ``last``."""
        queue = self.queue
        while queue:
            head = queue[0]
            if head is _END:
                return False  # the shared stream is over: the member stays on its own
            if head.end is None:
                queue.popleft()
                continue
            try:
                if head.end <= last:
                    queue.popleft()
                    continue
                return bool(head.start == last)
            except TypeError:  # positions of another kind: never meets
                return False
        return False

    async def changed(self) -> None:
        self._ready.clear()
        await self._ready.wait()

    def arm(self) -> None:
        """From now on, :meth:`offered` waits for the next offer (one made before, however
        soon after the caller looked at the queue, is not lost)."""
        self._ready.clear()

    async def offered(self) -> None:
        await self._ready.wait()

    def nudge(self) -> None:
        """Wakes the member to look at its cohort again (nothing was queued)."""
        self._ready.set()

    async def get(self) -> Any:
        while not self.queue:
            if self.overflowed:
                raise _Overflowed
            await self.changed()
        return self.queue.popleft()


class _Cohort:
    __slots__ = ("feeds", "key", "last_end", "live", "task")

    def __init__(self, key: tuple[object, ...]) -> None:
        self.key = key
        self.feeds: set[_Feed] = set()
        self.task: asyncio.Task[None] | None = None
        self.live = True  # until the producer's stream ends
        self.last_end: Any = None  # where the producer's last message ended

    def continues(self, feed: _Feed, last: Any) -> bool:
        """The shared stream goes on exactly after ``last``: its next queued message starts
        there, or it has sent nothing this member lacks and its last message ended there."""
        if feed.meets(last):
            return True
        return self.live and not feed.queue and last is not None and self.last_end == last


StreamCall = Callable[[Context], Awaitable[Any]]


class Cohorts:
    """This process's cohorts, by (document, operation name, variables, visibility)."""

    def __init__(self, *, max_queue: int, max_query_bytes: int, max_tokens: int) -> None:
        self._max_queue = max_queue
        self._max_query_bytes = max_query_bytes
        self._max_tokens = max_tokens
        self._cohorts: dict[tuple[object, ...], _Cohort] = {}
        self._shapes: dict[str, str | None] = {}
        # Results executed by producers: one per event per cohort (the metrics show it).
        self.executions = 0
        # The active-subscriptions gauge: a member's own stream counts itself while it runs;
        # once the member is on the shared stream, these count it (set by ``server.metrics``).
        self.opened: Callable[[], None] | None = None
        self.closed: Callable[[], None] | None = None

    @property
    def count(self) -> int:
        return len(self._cohorts)

    @property
    def members(self) -> int:
        return sum(len(cohort.feeds) for cohort in self._cohorts.values())

    def _shape(self, query: str, operation_name: str | None) -> str | None:
        """The root field of a subscription that may join a cohort, or None.

        Read before the operation's own limits run, so it keeps to them: a document over the
        byte cap is not parsed, nor one past the token cap parsed further; only the field's
        name is kept (a node would hold the document's every token); only short texts are
        remembered (any text may be sent, and each would stay until pushed out)."""
        if query_too_large(query, self._max_query_bytes) is not None:
            return None  # refused with its code by the operation's own limits
        cache_key = f"{operation_name}\x00{query}"
        if cache_key in self._shapes:
            return self._shapes[cache_key]
        shape = None
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            document = None
        if document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if operation_name is not None:
                operations = [o for o in operations if o.name and o.name.value == operation_name]
            if (
                len(operations) == 1
                and operations[0].operation is OperationType.SUBSCRIPTION
                and len(document.definitions) == 1
            ):
                selections = operations[0].selection_set.selections
                if len(selections) == 1 and isinstance(selections[0], FieldNode):
                    field = selections[0]
                    if field.name.value in COHORT_FIELDS and not field.directives:
                        shape = field.name.value
        if len(query) <= _SHAPE_TEXT_KEPT:
            if len(self._shapes) >= _SHAPES_KEPT:
                del self._shapes[next(iter(self._shapes))]
            self._shapes[cache_key] = shape
        return shape

    async def stream(
        self,
        start: StreamCall,
        *,
        query: str | None,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
        direct: Callable[[], Direct | None] | None = None,
    ) -> Any:
        """What ``schema.stream`` / ``schema.subscribe`` answers for this subscriber:
        ``start(context)`` runs the operation with a context (its own, or the producer's).
        ``direct``: gives the subscriber's socket, for the producer to write shared results
        to (asked only when the subscriber joins a cohort)."""
        principal = context.principal
        shape = self._shape(query, operation_name) if isinstance(query, str) else None
        if shape is None or principal is None:
            return await start(context)
        try:
            variables_key = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return await start(context)
        key = (
            query,
            operation_name,
            variables_key,
            principal.tenant_filter,
            tuple(sorted(scope.value for scope in principal.scopes)),
        )
        cohort = self._cohorts.get(key)
        if cohort is None:
            cohort = self._cohorts[key] = _Cohort(key)
            producer_context = Context.for_store(
                context.store, context.settings, principal=principal, live_edge_only=True
            )
            cohort.task = asyncio.create_task(self._produce(cohort, start, producer_context))
        feed = _Feed(self._max_queue, None if direct is None else direct())
        cohort.feeds.add(feed)
        try:
            own = await start(context)
        except BaseException:
            self._leave(cohort, feed)
            raise
        if not hasattr(own, "__anext__"):  # an error before the stream started
            self._leave(cohort, feed)
            return own
        return self._member(cohort, feed, own, shape)

    async def _produce(self, cohort: _Cohort, start: StreamCall, context: Context) -> None:
        pending: asyncio.Task[tuple[Any, Any] | None] | None = None
        try:
            stream = await start(context)
            if not hasattr(stream, "__anext__"):
                return

            def on_open(edge: Any) -> None:
                # Where the shared stream starts: a member whose own stream opened there (an
                # empty backfill) goes on with the cohort before any message.
                if cohort.last_end is None:
                    cohort.last_end = edge
                    for feed in tuple(cohort.feeds):
                        feed.nudge()

            pace = Pace()
            batch: list[_Item] = []
            opening: TaskContext | None = positions.told_when_opened(on_open)
            try:
                while True:
                    pending = asyncio.create_task(_pull(stream), context=opening)
                    opening = None
                    # One step for the stream: the messages it has at hand (the lines of one
                    # append) are pulled now and leave together, one socket write per member.
                    await asyncio.sleep(0)
                    if batch and (not pending.done() or len(batch) >= _BATCH):
                        await self._deliver(cohort, batch, pace)
                        batch = []
                    got = await pending
                    pending = None
                    if got is None:
                        return
                    result, position = got
                    self.executions += 1
                    first, end = position or (None, None)
                    batch.append(_Item(first, end, self._shared(result)))
                    if not isinstance(result, ExecutionResult) or result.errors:
                        return  # an error ends a stream
            finally:
                await _cancel(pending)
                if batch:
                    await self._deliver(cohort, batch, pace)
                with contextlib.suppress(Exception):
                    await stream.aclose()
        except Exception as failure:
            # Members on the shared stream get the error (logged and masked like any
            # unexpected one), not a completion that would pass for the job's end; members
            # still on their own streams go on with them.
            error = GraphQLError(str(failure), original_error=failure)
            label_errors([error])
            release_tracebacks([error])
            failed = _Item(None, None, ExecutionResult(data=None, errors=[error]))
            for feed in tuple(cohort.feeds):
                feed.offer(failed)
        finally:
            cohort.live = False
            if self._cohorts.get(cohort.key) is cohort:
                del self._cohorts[cohort.key]
            for feed in tuple(cohort.feeds):
                feed.offer(_END)

    @staticmethod
    async def _deliver(cohort: _Cohort, batch: list[_Item], pace: Pace) -> None:
        """Offers ``batch`` to every member, in order."""
        for feed in tuple(cohort.feeds):
            if feed.writing:
                # Writing to a member's socket is a message sent: it takes its turn as the
                # member's own task would (``live.turns``).
                await pace()
                if feed not in cohort.feeds:
                    continue
            feed.offer_all(batch)
        cohort.last_end = batch[-1].end

    @staticmethod
    def _shared(result: Any) -> Any:
        if not isinstance(result, ExecutionResult) or result.errors or result.data is None:
            return result
        data = SharedData(result.data)
        payload: dict[str, Any] = {"data": result.data}
        if result.extensions:
            payload["extensions"] = result.extensions
        data.payload = orjson.dumps(payload).decode()
        return ExecutionResult(data=data, errors=None, extensions=result.extensions)

    def _leave(self, cohort: _Cohort, feed: _Feed) -> None:
        cohort.feeds.discard(feed)
        if not cohort.feeds:
            if self._cohorts.get(cohort.key) is cohort:
                del self._cohorts[cohort.key]
            if cohort.task is not None:
                cohort.task.cancel()

    async def _member(
        self, cohort: _Cohort, feed: _Feed, own: Any, field: str
    ) -> AsyncGenerator[Any, None]:
        last: Any = None  # where its own stream is: where it opened, or its last message ended
        marked = False
        opened: list[Any] = []

        def on_open(position: Any) -> None:
            opened.append(position)
            feed.nudge()

        opening: TaskContext | None = positions.told_when_opened(on_open)
        shared = False
        pending: asyncio.Task[tuple[Any, Any] | None] | None = None

        try:
            # Its own stream until the shared one continues exactly where it is.
            while True:
                feed.arm()
                if opened and not marked and last is None:
                    marked, last = True, opened[0]  # it opened with nothing to send first
                if feed.overflowed:  # queued while it caught up on its own: start over
                    feed.queue.clear()
                    feed.overflowed = False
                if marked and cohort.continues(feed, last):
                    break
                if pending is None:
                    pending = asyncio.create_task(_pull(own), context=opening)
                    opening = None
                changed = asyncio.ensure_future(feed.offered())
                try:
                    await asyncio.wait((pending, changed), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if not pending.done():
                    continue
                got = pending.result()
                pending = None
                if got is None:
                    return
                result, position = got
                yield result
                if position is None:
                    marked = False
                else:
                    marked, last = True, position[1]
            await _cancel(pending)
            pending = None
            await own.aclose()
            if self.opened is not None:
                self.opened()
            shared = True
            pace = Pace()
            feed.last = last
            while True:
                feed.write_directly()
                item = await feed.get()
                if item is _END:
                    return
                await pace()
                yield item.result
                feed.last = item.end
        except _Overflowed:
            yield _overflow(field, feed.last if shared else last)
        finally:
            await _cancel(pending)
            with contextlib.suppress(Exception):
                await own.aclose()
            self._leave(cohort, feed)
            if shared and self.closed is not None:
                self.closed()


async def _pull(stream: Any) -> tuple[Any, Any] | None:
    """The stream's next message and its mark (``live.positions``), or None at its end."""
    positions.take()
    try:
        result = await anext(stream)
    except StopAsyncIteration:
        return None
    return result, positions.take()


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def _overflow(name: str, last: Any) -> ExecutionResult:
    """The error a member's own stream ends with when it falls behind, as that stream
    reports it (no location or path: it comes from the event stream, not a field)."""
    if name == "jobUpdated":
        error = SubscriptionOverflow("this subscriber fell behind; subscribe again")
    else:
        error = SubscriptionOverflow(
            f"this subscriber fell behind; subscribe again with after: {last}",
            resumeAfter=last,
        )
    located = GraphQLError(error.message, original_error=error, extensions=error.extensions)
    return ExecutionResult(data=None, errors=[located])
