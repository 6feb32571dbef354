"""Request bodies and the three patch types of the Kubernetes API.

JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch, the last for
the list fields the simulated objects have: lists keyed by `name` (containers, env) and
friends merge item by item, with the `$patch` directives kubectl sends.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from healer.sim.kubeapi_base import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

Obj = dict[str, Any]

# why: the patch merge keys of the Kubernetes API types, for the list fields served here;
# a list not named here is replaced whole, as the API does for atomic lists
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
}
PRIMITIVE_SETS = {"finalizers"}  # lists of strings merged as sets


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def decode(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None


def decode_object(body: bytes) -> Obj:
    found = decode(body)
    if not isinstance(found, dict):
        raise bad_request("the request body must be a JSON object")
    return found


def unsupported() -> ApiError:
    accepted = ", ".join(PATCH_TYPES)
    message = f"the body of the request was in an unknown format - accepted media types: {accepted}"
    return ApiError(415, "UnsupportedMediaType", message)


def apply_patch(content_type: str, target: Obj, body: bytes) -> Obj:
    """`target` with the patch applied; `target` itself is left as it was."""
    kind = media_type(content_type)
    if kind not in PATCH_TYPES:
        raise unsupported()
    patch = decode(body)
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a list of operations")
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("a merge patch must be a JSON object")
    merged = merge_patch(target, patch) if kind == MERGE_PATCH else strategic_merge(target, patch)
    assert isinstance(merged, dict)  # why: an object merged with an object stays one
    return merged


# --- JSON merge patch ---


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- strategic merge patch ---


def strategic_merge(target: Any, patch: Obj) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return _without_directives(patch)
    if directive == "delete":
        return None
    if directive is not None:
        raise bad_request(f"unknown $patch directive {directive!r}")
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            out[field] = [v for v in out.get(field) or [] if v not in (value or [])]
        elif key.startswith("$"):
            continue  # why: $setElementOrder and $retainKeys only tune order and pruning
        elif value is None:
            out.pop(key, None)
        else:
            merged = _merge_value(key, out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    return out


def _merge_value(key: str, current: Any, value: Any) -> Any:
    if isinstance(value, dict):
        return strategic_merge(current, value)
    if isinstance(value, list) and key in MERGE_KEYS:
        return _merge_list(MERGE_KEYS[key], current if isinstance(current, list) else [], value)
    if isinstance(value, list) and key in PRIMITIVE_SETS and isinstance(current, list):
        return current + [v for v in value if v not in current]
    return copy.deepcopy(value)


def _merge_list(merge_key: str, current: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_without_directives(p) for p in patch if p.get("$patch") != "replace"]
    out = [copy.deepcopy(item) for item in current]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise bad_request(f"list items must be objects with the merge key {merge_key!r}")
        at = next((i for i, x in enumerate(out) if x.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del out[at]
        elif at is None:
            out.append(_without_directives(item))
        else:
            out[at] = strategic_merge(out[at], item)
    return out


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return value


# --- JSON patch ---


def json_patch(target: Obj, operations: list[Any]) -> Obj:
    doc: Any = copy.deepcopy(target)
    for number, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise bad_request(f"JSON patch operation {number} has no path")
        doc = _operate(doc, op)
    if not isinstance(doc, dict):
        raise _failed("the patched document is no longer an object")
    return doc


def _operate(doc: Any, op: Obj) -> Any:
    name, path = op.get("op"), op["path"]
    if name == "test":
        if _get(doc, path) != op.get("value"):
            raise _failed(f"testing value {path} failed")
        return doc
    if name in ("add", "replace"):
        if "value" not in op:
            raise bad_request(f"JSON patch operation {name} {path} has no value")
        if name == "replace":
            _get(doc, path)  # why: replace needs the path to exist, add does not
            doc = _remove(doc, path)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)
    if name in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise bad_request(f"JSON patch operation {name} {path} has no from")
        value = copy.deepcopy(_get(doc, source))
        if name == "move":
            doc = _remove(doc, source)
        return _add(doc, path, value)
    raise bad_request(f"unknown JSON patch operation {name!r}")


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"JSON pointer {path!r} must start with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _step(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise _failed(f"the path {path} does not exist")


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _tokens(path):
        node = _step(node, token, path)
    return node


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise bad_request("a JSON patch cannot replace the whole object")
    node = doc
    for token in tokens[:-1]:
        node = _step(node, token, path)
    return node, tokens[-1]


def _add(doc: Any, path: str, value: Any) -> Any:
    parent, last = _parent(doc, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (
        last == "-" or (last.isdigit() and int(last) <= len(parent))
    ):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise _failed(f"the path {path} does not exist")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, path)
    _step(parent, last, path)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return doc


def _failed(message: str) -> ApiError:
    # why: kube-apiserver answers a JSON patch that cannot apply with 422, not 400
    return ApiError(
        422, "Invalid", f"the server rejected our request due to an error in our request: {message}"
    )
