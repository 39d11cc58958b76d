"""The HTTP side: the GraphQL view, health probes and other routes mounted by ``app.create_app``."""
