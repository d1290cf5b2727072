"""What is ours and whether it drifted: owner references and the drift check of a child. Pure.

A child is applied only when ``drifted`` says so (STYLE 11b: drift is what our field manager owns in
``metadata.managedFields``), and only over an object we control (``is_owned_by``, STYLE 11a). The
executor is ``inferop.reconcile.children.ensure_objects``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from inferop.api.quantity import parse_quantity

#: Keys under which values are Kubernetes quantities, which the API server normalises ("1000m" -> "1").
QUANTITY_KEYS = frozenset({"requests", "limits", "hard", "default", "defaultRequest", "max", "min", "used"})


def _scalar_equal(want: Any, have: Any, quantity: bool) -> bool:
    if want == have:
        return True
    if not quantity or isinstance(want, bool) or isinstance(have, bool):
        return False
    if isinstance(want, (str, int)) and isinstance(have, (str, int)):
        a, b = parse_quantity(want), parse_quantity(have)
        return a is not None and a == b
    return False


def is_subset(want: Any, have: Any, _quantity: bool = False) -> bool:
    """True when every field in ``want`` is present in ``have`` with the same value.

    The API server adds defaults (imagePullPolicy, terminationMessagePath, ...) and normalises
    quantities ("1000m" -> "1"), so a live object is a superset of what we applied; lists must match
    element by element because we own them whole.
    """
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and is_subset(v, have[k], _quantity or k in QUANTITY_KEYS) for k, v in want.items()
        )
    if isinstance(want, Sequence) and not isinstance(want, str):
        if not isinstance(have, Sequence) or isinstance(have, str) or len(want) != len(have):
            return False
        return all(is_subset(w, h, _quantity) for w, h in zip(want, have, strict=True))
    return _scalar_equal(want, have, _quantity)


# --- drift: what our field manager owns ------------------------------------------------------------
#
# Server-side apply merges: it never removes a list entry or a map key another field manager owns (a
# sidecar a mesh injects, an annotation a user adds), so comparing whole lists against the live object
# would find "drift" on every check and re-apply forever. The live object's ``metadata.managedFields``
# says which fields and list entries each manager owns (``fieldsV1``: ``f:<field>``, ``k:<key json>`` for
# an entry of a keyed list, ``v:<value json>`` for an entry of a set, ``.`` for the entry itself); a
# field owned whole (an atomic list or map) has an empty tree. A child has drifted when a desired field
# or entry is missing or different in live, or when we own a field or entry that is no longer desired
# (so removing an env var or a nodeSelector key from the spec is applied too).

#: Maps the Kubernetes schema declares atomic that hold only string labels (``+mapType=atomic``,
#: LabelSelector): owned whole, so a key the spec no longer has is drift. Other atomic nodes may carry
#: server defaults (``fieldRef.apiVersion``), so for them extra live keys are tolerated.
ATOMIC_STRING_MAPS = frozenset({"nodeSelector", "selector", "matchLabels"})


#: Keyed lists (``+listType=map``) in the objects we render. Only needed where ``fieldsV1`` cannot tell:
#: a list we applied empty has an empty tree, like an atomic list we own whole.
KEYED_LISTS = frozenset(
    {"containers", "initContainers", "env", "ports", "volumes", "volumeMounts", "ownerReferences", "imagePullSecrets"}
)


class _Whole:
    """Marker: the node is owned whole (an atomic field, or anything inside one)."""


WHOLE = _Whole()
Owned = Mapping[str, Any] | _Whole | None


def _union(into: dict[str, Any], tree: Mapping[str, Any]) -> None:
    for key, sub in tree.items():
        node = into.setdefault(key, {})
        if isinstance(sub, Mapping) and isinstance(node, dict):
            _union(node, sub)


def owned_fields(live: Mapping[str, Any], manager: str) -> dict[str, Any] | None:
    """The ``fieldsV1`` tree ``manager`` owns in ``live`` through server-side apply (operation Apply on the
    object itself, not a subresource), merged over its entries; None when it has no such entry (an
    object it never applied, or a reader that keeps no managedFields)."""
    entries = ((live.get("metadata") or {}).get("managedFields")) or []
    trees = [
        e["fieldsV1"]
        for e in entries
        if isinstance(e, Mapping)
        and e.get("manager") == manager
        and e.get("operation") == "Apply"
        and not e.get("subresource")
        and isinstance(e.get("fieldsV1"), Mapping)
    ]
    if not trees:
        return None
    out: dict[str, Any] = {}
    for tree in trees:
        _union(out, tree)
    return out


def drifted(want: Mapping[str, Any], live: Mapping[str, Any], manager: str) -> bool:
    """Whether ``want`` (the object we would apply) must be applied over ``live``.

    Compares only what ``manager`` owns in live (its managedFields) plus what it wants: a field or list
    entry someone else added is not drift. Without a managedFields entry of ``manager`` it falls back to
    ``is_subset`` (lists compared whole).
    """
    owned = owned_fields(live, manager)
    if owned is None:
        return not is_subset(want, live)
    return not _in_sync(want, live, owned, False, None)


def _child(owned: Owned, key: str) -> Owned:
    if owned is None or isinstance(owned, _Whole):
        return owned
    sub = owned.get(key)
    if sub is None:
        return None
    if isinstance(sub, Mapping) and not any(k != "." for k in sub):
        return WHOLE  # a leaf in fieldsV1: owned whole when the value is a map or a list
    return sub if isinstance(sub, Mapping) else WHOLE


def _in_sync(want: Any, have: Any, owned: Owned, quantity: bool, name: str | None) -> bool:
    if isinstance(want, Mapping):
        if not isinstance(have, Mapping):
            return False
        for k, v in want.items():
            if v is None or (k not in have and _empty(v)):
                continue  # the API server drops an empty map or list (``nodeSelector: {}``)
            if k not in have or not _in_sync(v, have[k], _child(owned, f"f:{k}"), quantity or k in QUANTITY_KEYS, k):
                return False
        if isinstance(owned, _Whole):
            # An atomic label map: a key we no longer want is drift (nothing else may own it).
            return name not in ATOMIC_STRING_MAPS or all(k in want and want[k] is not None for k in have)
        if owned is not None:
            # A field we own that is no longer wanted: applying without it gives it up (and deletes it).
            for key in owned:
                if key.startswith("f:") and want.get(key[2:]) is None:
                    return False
        return True
    if isinstance(want, Sequence) and not isinstance(want, str):
        if not isinstance(have, Sequence) or isinstance(have, str):
            return False
        if isinstance(owned, Mapping) and any(k.startswith(("k:", "v:")) for k in owned):
            return _list_in_sync(want, have, owned, quantity)
        if not want and owned is not None and name in KEYED_LISTS:
            return True  # we own no entry of this keyed list (an empty tree): entries others add stay
        # Atomic (owned whole), or not ours at all: element by element.
        inner = WHOLE if isinstance(owned, _Whole) else None
        return len(want) == len(have) and all(
            _in_sync(w, h, inner, quantity, None) for w, h in zip(want, have, strict=True)
        )
    return _scalar_equal(want, have, quantity)


_ABSENT = object()


def _empty(value: Any) -> bool:
    return isinstance(value, (Mapping, list)) and not value


def _parse_key(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _key_matches(key: Mapping[str, Any], elem: Any) -> bool:
    """``elem`` has the values of ``key``; a key field ``elem`` leaves out is one the API server
    defaults (a port's ``protocol``), which does not tell entries apart."""
    return isinstance(elem, Mapping) and any(f in elem for f in key) and all(
        elem[f] == v for f, v in key.items() if f in elem
    )


def _list_in_sync(want: Sequence[Any], have: Sequence[Any], owned: Mapping[str, Any], quantity: bool) -> bool:
    """A keyed list (``k:``) or a set (``v:``) whose entries we own one by one: our entries must be in
    live (keyed ones in our order, with our fields), and every entry we own must still be wanted."""
    if any(k.startswith("v:") for k in owned):
        values = [_parse_key(k[2:]) for k in owned if k.startswith("v:")]
        return all(any(_scalar_equal(w, h, quantity) for h in have) for w in want) and all(
            any(_scalar_equal(w, v, quantity) for w in want) for v in values
        )
    keys = [(k, _parse_key(k[2:])) for k in owned if k.startswith("k:")]
    if any(not isinstance(key, Mapping) for _, key in keys):
        return False  # a key we cannot read: apply rather than guess
    fields = {f for _, key in keys for f in key}
    after = -1
    for w in want:
        if not isinstance(w, Mapping) or not any(f in w for f in fields):
            return False
        at = next(
            (i for i, h in enumerate(have) if i > after and isinstance(h, Mapping)
             and all(w[f] == h.get(f) for f in fields if f in w)),
            None,
        )
        if at is None:
            return False
        after = at
        live_entry = have[at]
        entry = next((raw for raw, key in keys if all(live_entry.get(f, _ABSENT) == v for f, v in key.items())), None)
        sub = _child(owned, entry) if entry is not None else None
        if not _in_sync(w, have[at], sub, quantity, None):
            return False
    return all(any(_key_matches(key, w) for w in want) for _, key in keys)


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def with_owner(obj: dict[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
    meta = {**obj["metadata"], "ownerReferences": [owner_reference(owner)]}
    return {**obj, "metadata": meta}


def is_owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid and ref.get("controller") for ref in refs)
