"""A uvicorn server that ends live subscriptions before it closes connections.

uvicorn's shutdown closes WebSockets at once (close code 1012) and waits for HTTP responses to
finish — which an open multipart subscription never does. Closing the broker first ends every
subscription the normal way: graphql-transport-ws and graphql-ws clients get ``complete`` for
each operation, multipart clients get the closing boundary, and only then are the connections
closed.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from live.broker import Broker

log = logging.getLogger("jobgraph")

# Lets the transports flush the completion frames the closed subscriptions produced.
_FLUSH_SECONDS = 0.1


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, grace: float) -> None:
        super().__init__(config)
        self.grace = grace

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        broker = getattr(self.lifespan, "state", {}).get("broker")
        if isinstance(broker, Broker) and broker.subscriber_count:
            log.info("ending %d live subscriptions", broker.subscriber_count)
            await broker.close(grace=self.grace)
            await asyncio.sleep(_FLUSH_SECONDS)
        await super().shutdown(sockets)
