"""Thin resolvers: check arguments, call one store method, wrap the result in a schema type."""
