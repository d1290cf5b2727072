"""The server-side apply body (``kube.apply_body``) and what the child index keeps (``cache.slim_child``).

Covers: every string (any Unicode scalar value: emoji and other characters outside the Basic
Multilingual Plane, line and paragraph separators, NEL, the byte order mark, control characters) reads
back unchanged through a YAML parser, which is how the API server parses ``application/apply-patch+yaml``
(PyYAML and the API server's go-yaml refuse the same unprintable characters and fold the same line
breaks); characters outside the BMP are written as UTF-8, never as an escaped surrogate pair (which a
YAML parser reads as two invalid characters: HTTP 400); the body is JSON too. ``slim_child`` keeps only
our own server-side apply entry of managedFields.
"""

from __future__ import annotations

import json

import yaml
from hypothesis import given
from hypothesis import strategies as st

from inferop.reconcile.cache import slim_child
from inferop.reconcile.kube import apply_body

ODD = ["🚀 ok", "𝔘𝔫𝔦", "\U0010fffd", "a\u2028b\u2029c", "a\x85b", "\ufeffstart", "a\x7fb", "\x00\x01\t\n\r",
       "\x9f", "\ufffe\uffff", "café e\u0301", "'\"\\ #: - [x] {y} &z *w !t %u @v `q`"]


def test_odd_strings_read_back_unchanged() -> None:
    obj = {"env": [{"name": f"V{i}", "value": v} for i, v in enumerate(ODD)]}
    body = apply_body(obj)
    assert yaml.safe_load(body.decode("utf-8")) == obj
    assert json.loads(body) == obj


def test_an_emoji_is_utf8_not_a_surrogate_pair() -> None:
    body = apply_body({"v": "🚀"})
    assert body == '{"v":"🚀"}'.encode()
    assert b"\\ud83d" not in body


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_every_string_reads_back_unchanged(text: str) -> None:
    obj = {"metadata": {"name": "x"}, "spec": {"args": [text], text: 1}}
    body = apply_body(obj)
    assert yaml.safe_load(body.decode("utf-8")) == obj
    assert json.loads(body) == obj


def test_slim_child_keeps_only_our_apply_entry() -> None:
    ours = {"manager": "inferop", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    body = {"apiVersion": "v1", "kind": "Service", "spec": {"a": 1}, "metadata": {"name": "x", "managedFields": [
        ours,
        {"manager": "inferop", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
        {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:b": {}}}},
        {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
    ]}}
    slim = slim_child(body)
    assert slim["metadata"]["managedFields"] == [ours]
    assert slim["spec"] == {"a": 1} and slim["metadata"]["name"] == "x"
    del body["metadata"]["managedFields"][0]
    assert "managedFields" not in slim_child(body)["metadata"]


def test_only_the_caching_readers_are_told_of_our_writes() -> None:
    """``remember_write`` reaches the readers that declare ``applied``/``deleted`` (the index cache and
    ``ReadOnce``), through the ``CachingReader`` Protocol; the API client is not one."""
    from inferop.reconcile.cache import IndexReader
    from inferop.reconcile.children import CachingReader, ReadOnce
    from inferop.reconcile.kube import Kube

    assert isinstance(IndexReader([]), CachingReader)
    assert isinstance(ReadOnce(IndexReader([])), CachingReader)
    assert not issubclass(Kube, CachingReader)
