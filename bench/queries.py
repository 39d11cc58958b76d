"""The GraphQL documents the benchmark sends, and what the running schema offers."""

from __future__ import annotations

from typing import Any

import orjson

ITEM_FIELDS = "position platform code url status error"
JOB_FIELDS = (
    f"id status progress createdAt updatedAt startedAt finishedAt items {{ {ITEM_FIELDS} }} logTail"
)
JOB_QUERY = f"query Job($id: ID!, $tail: Int) {{ job(id: $id, tail: $tail) {{ {JOB_FIELDS} }} }}"

_INTROSPECTION = """
{ __schema {
    queryType { fields { name args { name } } }
    mutationType { fields { name args { name } } }
    types { name fields { name args { name } } }
} }
"""


def body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": variables or {}})


def job_body(job_id: str, tail: int = 100) -> bytes:
    return body(JOB_QUERY, {"id": job_id, "tail": tail})


class SchemaShape:
    """Root fields and their argument names, read from a running server by introspection."""

    def __init__(self, result: dict[str, Any]) -> None:
        schema = result["data"]["__schema"]
        self.query = _fields(schema["queryType"])
        self.mutation = _fields(schema.get("mutationType"))
        self.types = {t["name"]: _fields(t) for t in schema["types"] if t.get("fields")}

    @staticmethod
    def introspection_body() -> bytes:
        return body(_INTROSPECTION)


def _fields(type_: dict[str, Any] | None) -> dict[str, set[str]]:
    if not type_:
        return {}
    return {field["name"]: {arg["name"] for arg in field["args"]} for field in type_["fields"]}


def jobs_query(shape: SchemaShape, *, first: int = 50, tail: int = 10) -> tuple[str, str]:
    """The jobs(first: 50) page with items and a 10-line logTail, and how the tail was passed."""
    log_tail = "logTail"
    jobs_args = f"first: {first}"
    if "tail" in shape.query.get("jobs", set()):
        jobs_args += f", tail: {tail}"
        how = f"jobs(first: {first}, tail: {tail})"
    elif "tail" in shape.types.get("Job", {}).get("logTail", set()):
        log_tail = f"logTail(tail: {tail})"
        how = f"logTail(tail: {tail})"
    else:
        how = "logTail with the schema's default tail (no tail argument found)"
    fields = JOB_FIELDS.replace("logTail", log_tail)
    return f"{{ jobs({jobs_args}) {{ edges {{ node {{ {fields} }} }} }} }}", how


def append_logs_body(job_id: str, worker_id: str, lines: int) -> bytes:
    query = (
        "mutation Append($jobId: ID!, $workerId: String!, $lines: [LogLineInput!]!) "
        "{ appendLogs(jobId: $jobId, workerId: $workerId, lines: $lines) }"
    )
    batch = [
        {"message": f"[extract] bench line {index}: segment downloaded", "level": "INFO"}
        for index in range(lines)
    ]
    return body(query, {"jobId": job_id, "workerId": worker_id, "lines": batch})
