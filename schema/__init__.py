"""The GraphQL schema: Strawberry types, inputs, extensions and the assembly in ``build``."""
