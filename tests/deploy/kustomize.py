"""A kustomize renderer for the subset deploy/kubernetes uses, so the tests render the overlays
offline without the kustomize binary (no maintained Python package renders kustomizations:
PyPI's `pykustomize` needs Python 3.14 and wraps the Go code, `kustomize` builds manifests
from Python, `pytest-kustomize` calls the binary).

The subset, and its meaning as in kustomize v5:

    resources          files (one or more YAML documents) and folders holding a kustomization
    namespace          set on every namespaced object
    labels             `pairs` added to metadata.labels, and to pod templates with
                       `includeTemplates` (`includeSelectors` is not supported)
    images             `name` -> `newName` / `newTag` in every container of a pod template
    configMapGenerator, secretGenerator
                       `envs`, `files`, `literals`; `behavior` create, merge or replace;
                       `options.disableNameSuffixHash`; the name gets kustomize's content hash
                       (the same scheme: sha256 of the sorted JSON, 10 characters mapped) and
                       every reference from a pod template follows it
    patches            `path` or inline `patch`; a strategic merge patch (lists of containers,
                       volumes, mounts, env and ports merged by their key) or a JSON 6902 list
                       of add / replace / remove with a `target` (kind, name)

Anything else in a kustomization is an error, so the manifests cannot drift outside what is
checked here.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

KNOWN_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "configMapGenerator",
    "secretGenerator",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
# strategic merge: the key that identifies an item of these lists
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "env": "name",
    "ports": "containerPort",
}
_HASHED = "__kustomize_hash__"  # generated objects whose name takes the content hash


class KustomizeError(ValueError):
    """The kustomization is wrong, or outside the subset this renderer knows."""


def build(folder: Path) -> list[Object]:
    """The objects `kustomize build FOLDER` would print, in resource order."""
    objects = _build(folder)
    _name_generated(objects)
    return objects


def _build(folder: Path) -> list[Object]:
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder} has no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text())
    unknown = set(kustomization) - KNOWN_KEYS
    if unknown:
        raise KustomizeError(f"{path}: not in the supported subset: {sorted(unknown)}")
    objects: list[Object] = []
    for entry in kustomization.get("resources", []):
        target = folder / entry
        if target.is_dir():
            objects += _build(target)
        elif target.is_file():
            objects += _documents(target)
        else:
            raise KustomizeError(f"{path}: resource {entry} does not exist")
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in kustomization.get(key, []):
            _generate(objects, kind, generator, folder)
    for patch in kustomization.get("patches", []):
        _patch(objects, patch, folder)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for labels in kustomization.get("labels", []):
        _label(objects, labels)
    for image in kustomization.get("images", []):
        for container in _containers(objects):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                name = image.get("newName", name)
                tag = image.get("newTag", tag)
                container["image"] = f"{name}:{tag}" if tag else name
    return objects


def _documents(path: Path) -> list[Object]:
    objects = [obj for obj in yaml.safe_load_all(path.read_text()) if obj is not None]
    for obj in objects:
        if not isinstance(obj, dict) or "kind" not in obj or "name" not in obj.get("metadata", {}):
            raise KustomizeError(f"{path}: every document needs a kind and metadata.name")
    return objects


def _find(objects: list[Object], kind: str, name: str) -> Object | None:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    return None


def _generate(objects: list[Object], kind: str, generator: Object, folder: Path) -> None:
    data: dict[str, str] = {}
    for env in generator.get("envs", []):
        env_path = folder / env
        if not env_path.is_file():
            raise KustomizeError(f"{env_path} is missing (copy it from {env}.example?)")
        for line in env_path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, sep, value = line.partition("=")
                if not sep:
                    raise KustomizeError(f"{env_path}: {line!r} is not KEY=value")
                data[key.strip()] = value
    for file in generator.get("files", []):
        data[Path(file).name] = (folder / file).read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    name = generator["name"]
    behavior = generator.get("behavior", "create")
    existing = _find(objects, kind, name)
    if behavior == "create":
        if existing is not None:
            raise KustomizeError(f"{kind} {name} exists already: use behavior merge or replace")
        obj: Object = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
        if kind == "Secret":
            obj["type"] = "Opaque"
        objects.append(obj)
    elif behavior in ("merge", "replace"):
        if existing is None:
            raise KustomizeError(f"{kind} {name} to {behavior} does not exist")
        obj = existing
        if behavior == "replace":
            obj.pop("data", None)
    else:
        raise KustomizeError(f"{kind} {name}: unknown behavior {behavior}")
    if kind == "Secret":
        data = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    obj["data"] = {**obj.get("data", {}), **data}
    options = generator.get("options", {})
    if set(options) - {"disableNameSuffixHash"}:
        raise KustomizeError(f"{kind} {name}: options outside the subset: {sorted(options)}")
    obj[_HASHED] = not options.get("disableNameSuffixHash", False)


def _name_generated(objects: list[Object]) -> None:
    """Suffix generated ConfigMaps and Secrets with their content hash; follow references."""
    renamed: dict[tuple[str, str], str] = {}
    for obj in objects:
        if obj.pop(_HASHED, False):
            name = obj["metadata"]["name"]
            obj["metadata"]["name"] = f"{name}-{content_hash(obj)}"
            renamed[(obj["kind"], name)] = obj["metadata"]["name"]
    for spec in _pod_specs(objects):
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            for source in container.get("envFrom", []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in source:
                        _follow(source[key], "name", kind, renamed)
            for env in container.get("env", []):
                value_from = env.get("valueFrom", {})
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if key in value_from:
                        _follow(value_from[key], "name", kind, renamed)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                _follow(volume["configMap"], "name", "ConfigMap", renamed)
            if "secret" in volume:
                _follow(volume["secret"], "secretName", "Secret", renamed)


def _follow(ref: Object, field: str, kind: str, renamed: dict[tuple[str, str], str]) -> None:
    ref[field] = renamed.get((kind, ref[field]), ref[field])


def content_hash(obj: Object) -> str:
    """kustomize's name suffix of a generated ConfigMap or Secret (api/hasher)."""
    if obj["kind"] == "ConfigMap":
        fields = {"kind": "ConfigMap", "name": obj["metadata"]["name"], "data": obj["data"]}
    else:
        fields = {
            "kind": "Secret",
            "type": obj.get("type", ""),
            "name": obj["metadata"]["name"],
            "data": obj["data"],
        }
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Go's json.Marshal escapes these three
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        encoded = encoded.replace(char, escape)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _patch(objects: list[Object], entry: Object, folder: Path) -> None:
    if set(entry) - {"path", "patch", "target"}:
        raise KustomizeError(f"a patch outside the subset: {sorted(entry)}")
    text = (folder / entry["path"]).read_text() if "path" in entry else entry["patch"]
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    if len(documents) == 1 and isinstance(documents[0], list):
        target = entry.get("target")
        if not target or set(target) - {"kind", "name"}:
            raise KustomizeError("a JSON 6902 patch needs a target of kind and name")
        obj = _find(objects, target["kind"], target["name"])
        if obj is None:
            raise KustomizeError(f"patch target {target} does not exist")
        for operation in documents[0]:
            _json6902(obj, operation)
        return
    for document in documents:
        obj = _find(objects, document["kind"], document["metadata"]["name"])
        if obj is None:
            raise KustomizeError(f"patch target {document['kind']} {document['metadata']['name']}")
        _merge(obj, document)


def _json6902(obj: Object, operation: Object) -> None:
    op, path = operation["op"], operation["path"]
    if op not in ("add", "replace", "remove"):
        raise KustomizeError(f"JSON 6902 op {op} is outside the subset")
    keys = [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]
    parent: Any = obj
    for key in keys[:-1]:
        parent = parent[int(key)] if isinstance(parent, list) else parent[key]
    last = keys[-1]
    if isinstance(parent, list):
        if op == "add":
            parent.insert(len(parent) if last == "-" else int(last), operation["value"])
        elif op == "replace":
            parent[int(last)] = operation["value"]
        else:
            del parent[int(last)]
        return
    if op != "add" and last not in parent:
        raise KustomizeError(f"JSON 6902 {op}: {path} does not exist")
    if op == "remove":
        del parent[last]
    else:
        parent[last] = copy.deepcopy(operation["value"])


def _merge(into: Object, patch: Object) -> None:
    """A strategic merge patch: maps merged, keyed lists merged by key, other lists replaced."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(into.get(key), list):
            merge_key = MERGE_KEYS[key]
            for item in value:
                same = [old for old in into[key] if old.get(merge_key) == item.get(merge_key)]
                if same:
                    _merge(same[0], item)
                else:
                    into[key].append(copy.deepcopy(item))
        else:
            into[key] = copy.deepcopy(value)


def _label(objects: list[Object], labels: Object) -> None:
    if labels.get("includeSelectors"):
        raise KustomizeError("labels with includeSelectors are outside the subset")
    for obj in objects:
        obj["metadata"].setdefault("labels", {}).update(labels["pairs"])
        if labels.get("includeTemplates") and obj["kind"] in WORKLOADS:
            template = obj["spec"]["template"].setdefault("metadata", {})
            template.setdefault("labels", {}).update(labels["pairs"])


def _pod_specs(objects: list[Object]) -> list[Object]:
    return [obj["spec"]["template"]["spec"] for obj in objects if obj["kind"] in WORKLOADS]


def _containers(objects: list[Object]) -> list[Object]:
    return [
        container
        for spec in _pod_specs(objects)
        for container in spec.get("containers", []) + spec.get("initContainers", [])
    ]
