"""deploy/kubernetes, checked offline: each overlay rendered (tests/deploy/kustomize.py), every
object validated strictly against the Kubernetes schemas of the versions we target
(`kubernetes-validate`, which ships them) and KEDA's objects against KEDA's own CRD schema
(vendored in tests/deploy/schemas/keda), then what the schemas cannot see: the stream and
group names the code uses, settings that exist, probes on the app's public /health/live and
/health/ready (tests/api/test_health_probes.py runs them against a real server), requests
within limits, selectors that select. KEDA's lag metric is read from a real Redis after
pixelmill's own queue has worked on it."""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import kubernetes_validate
import pytest
import redis
import yaml
from PIL import Image
from skimage import data as photos

from pixelmill.api import create_app
from pixelmill.api.security import is_open
from pixelmill.config import ENV_PREFIX, Settings, load_settings
from pixelmill.jobs.queue import dead_stream
from pixelmill.jobs.redis_queue import RedisQueue
from pixelmill.services.registry import SERVICES
from tests.deploy.kustomize import KustomizeError, build
from tests.redis_server import missing
from tests.server import free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("production", "small")
# the oldest Kubernetes the manifests are for (native preStop sleep: 1.30+) and the newest
# that kubernetes-validate ships schemas of
KUBERNETES_VERSIONS = ("1.33", "1.37")
KEDA_CRDS = Path(__file__).parent / "schemas" / "keda"
KEDA_KINDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
# what each probe of the API container asks: liveness only this process, readiness and
# startup whether it takes requests (api/routes/health.py); never /health, which is 503 when
# anything shared is down
PROBES = {
    "livenessProbe": "/health/live",
    "readinessProbe": "/health/ready",
    "startupProbe": "/health/ready",
}

Object = dict[str, Any]


# --- rendering ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/kubernetes copied, each overlay's secret.env made from its example, as a user
    is told to."""
    copy_ = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, copy_, ignore=shutil.ignore_patterns("secret.env"))
    for overlay in OVERLAYS:
        folder = copy_ / "overlays" / overlay
        shutil.copy(folder / "secret.env.example", folder / "secret.env")
    return copy_


@pytest.fixture(scope="module")
def rendered(tree: Path) -> dict[str, list[Object]]:
    with no_network():
        return {overlay: build(tree / "overlays" / overlay) for overlay in OVERLAYS}


@contextmanager
def no_network() -> Iterator[None]:
    """Any attempt to open a socket to anywhere fails: rendering and validating are offline."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network used: {args[1:] or kwargs}")

    patch = pytest.MonkeyPatch()
    patch.setattr(socket.socket, "connect", refuse)
    patch.setattr(socket, "create_connection", refuse)
    patch.setattr(socket, "getaddrinfo", refuse)
    try:
        yield
    finally:
        patch.undo()


def one(objects: list[Object], kind: str, name: str) -> Object:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def of_kind(objects: list[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def config_map(objects: list[Object], name: str) -> Object:
    found = [
        o
        for o in of_kind(objects, "ConfigMap")
        if re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?", o["metadata"]["name"])
    ]
    assert len(found) == 1
    return found[0]


def settings_env(objects: list[Object]) -> dict[str, str]:
    """What the settings ConfigMap and the secrets give every process."""
    secret = one(objects, "Secret", "pixelmill-secrets")["data"]
    return {
        **config_map(objects, "pixelmill-settings")["data"],
        **{key: base64.b64decode(value).decode() for key, value in secret.items()},
    }


def container(deployment: Object) -> Object:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def quantity(value: str | int) -> float:
    """A Kubernetes quantity as a number: "500m" is 0.5, "256Mi" is 268435456."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match, value
    return float(match[1]) * units.get(match[2], 1)


# --- the schemas ----------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """A CRD schema with unknown fields refused, as the API server's strict field validation
    does: objects that list their properties and allow nothing else say so."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def keda_schemas() -> dict[str, Any]:
    validators = {}
    for kind, file in KEDA_KINDS.items():
        crd = yaml.safe_load((KEDA_CRDS / file).read_text())
        assert crd["spec"]["names"]["kind"] == kind
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
        schema = strict(version["schema"]["openAPIV3Schema"])
        validators[kind] = jsonschema.Draft7Validator(schema)
    return validators


def validate(obj: Object, keda: dict[str, Any]) -> None:
    """Raise unless OBJ is valid for every Kubernetes version we target (KEDA's kinds: for
    KEDA's CRD)."""
    if obj["kind"] in keda:
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        keda[obj["kind"]].validate(obj)
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_strictly_offline(
    rendered: dict[str, list[Object]], keda_schemas: dict[str, Any], overlay: str
) -> None:
    objects = rendered[overlay]
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Job",
        "ConfigMap",
        "Secret",
        "ScaledObject",
        "TriggerAuthentication",
    } <= kinds
    with no_network():
        for obj in objects:
            validate(obj, keda_schemas)


@pytest.mark.parametrize(
    ("kind", "name", "breakage"),
    [
        # a typo in a probe, a count as text, a container field that does not exist
        ("Deployment", "pixelmill-api", ("probe", "paht", "/health/live")),
        ("Deployment", "pixelmill-api", ("spec", "replicas", "two")),
        ("Deployment", "pixelmill-storer", ("container", "imagePulPolicy", "Always")),
        ("HorizontalPodAutoscaler", "pixelmill-api", ("spec", "minReplicaCount", 1)),
        # KEDA: a field of the HPA's in a ScaledObject, a number where KEDA wants text
        ("ScaledObject", "pixelmill-storer", ("spec", "minReplicas", 0)),
        ("ScaledObject", "pixelmill-storer", ("trigger", "lagCount", 500)),
        ("TriggerAuthentication", "pixelmill-redis", ("spec", "secretRef", "x")),
    ],
)
def test_a_broken_object_is_refused(
    rendered: dict[str, list[Object]],
    keda_schemas: dict[str, Any],
    kind: str,
    name: str,
    breakage: tuple[str, str, Any],
) -> None:
    broken = copy.deepcopy(one(rendered["production"], kind, name))
    where, field, value = breakage
    if where == "probe":
        container(broken)["livenessProbe"]["httpGet"] = {field: value, "port": "http"}
    elif where == "container":
        container(broken)[field] = value
    elif where == "trigger":
        broken["spec"]["triggers"][0]["metadata"][field] = value
    else:
        broken["spec"][field] = value
    validate(one(rendered["production"], kind, name), keda_schemas)  # the original passes
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, keda_schemas)


def test_the_renderer_refuses_what_it_does_not_know(tree: Path, tmp_path: Path) -> None:
    folder = tmp_path / "overlay"
    shutil.copytree(tree / "overlays" / "small", folder)
    (folder / "kustomization.yaml").write_text(
        (folder / "kustomization.yaml").read_text().replace("../../base", str(tree / "base"))
    )
    build(folder)
    (folder / "secret.env").unlink()
    with pytest.raises(KustomizeError, match=r"secret\.env is missing"):
        build(folder)
    shutil.copy(folder / "secret.env.example", folder / "secret.env")
    text = (folder / "kustomization.yaml").read_text()
    (folder / "kustomization.yaml").write_text(text + "namePrefix: staging-\n")
    with pytest.raises(KustomizeError, match="namePrefix"):
        build(folder)


def test_a_settings_change_renames_the_config_map_and_every_pod_follows(tree: Path) -> None:
    before = build(tree / "overlays" / "small")
    settings = tree / "base" / "settings.env"
    original = settings.read_text()
    try:
        settings.write_text(original.replace("INFO", "DEBUG"))
        after = build(tree / "overlays" / "small")
    finally:
        settings.write_text(original)
    old = config_map(before, "pixelmill-settings")["metadata"]["name"]
    new = config_map(after, "pixelmill-settings")["metadata"]["name"]
    assert old != new
    for deployment in of_kind(after, "Deployment") + of_kind(after, "Job"):
        refs = [source["configMapRef"]["name"] for source in container(deployment)["envFrom"]
                if "configMapRef" in source]  # fmt: skip
        assert refs == [new], deployment["metadata"]["name"]


# --- what the schemas cannot see ------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaled_objects_watch_the_streams_and_groups_the_code_uses(
    rendered: dict[str, list[Object]], overlay: str
) -> None:
    objects = rendered[overlay]
    env = settings_env(objects)
    defaults = Settings.model_fields
    prefix = env.get(f"{ENV_PREFIX}REDIS_PREFIX", defaults["redis_prefix"].default)
    batch = env.get(f"{ENV_PREFIX}WORKER_BATCH", str(defaults["worker_batch"].default))
    redis_url = urlsplit(env[f"{ENV_PREFIX}REDIS_URL"])
    # KEDA reaches the Redis pixelmill uses
    assert env["REDIS_ADDRESS"] == f"{redis_url.hostname}:{redis_url.port or 6379}"
    assert env["REDIS_PASSWORD"] == (redis_url.password or "")
    auth = one(objects, "TriggerAuthentication", "pixelmill-redis")
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["key"] in one(objects, "Secret", ref["name"])["data"]

    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in of_kind(objects, "ScaledObject")}
    assert set(scaled) == {f"pixelmill-{service.name}" for service in SERVICES}
    for service in SERVICES:
        deployment = one(objects, "Deployment", f"pixelmill-{service.name}")
        assert container(deployment)["args"] == ["worker", service.name]
        triggers = scaled[deployment["metadata"]["name"]]["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"redis-streams"}
        for trigger in triggers:
            metadata = trigger["metadata"]
            assert metadata["stream"] == f"{prefix}:{service.stream}"
            assert metadata["consumerGroup"] == service.name
            assert metadata["databaseIndex"] == (redis_url.path.strip("/") or "0")
            assert trigger["authenticationRef"]["name"] == "pixelmill-redis"
        by_measure = {next(k for k in ("lagCount", "pendingEntriesCount") if k in t["metadata"]): t
                      for t in triggers}  # fmt: skip
        assert set(by_measure) == {"lagCount", "pendingEntriesCount"}
        # in hand: a replica holds one batch, so this trigger never adds replicas on its own
        assert by_measure["pendingEntriesCount"]["metadata"]["pendingEntriesCount"] == batch
        assert by_measure["lagCount"]["metadata"]["activationLagCount"] == "0"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scale_to_zero_only_where_nobody_waits_live(
    rendered: dict[str, list[Object]], overlay: str
) -> None:
    objects = rendered[overlay]
    minimum = {
        so["spec"]["scaleTargetRef"]["name"]: so["spec"]["minReplicaCount"]
        for so in of_kind(objects, "ScaledObject")
    }
    assert minimum["pixelmill-storer"] == 0
    assert minimum["pixelmill-faces"] >= 1  # its results are pushed live to /faces
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    hpa_targets = {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers}
    assert hpa_targets == {"pixelmill-api"}  # KEDA makes the workers' own HPAs: never two
    for so in of_kind(objects, "ScaledObject"):
        assert so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]
    # an autoscaler owns these counts: a `replicas` here would be reset by every apply
    for name in hpa_targets | set(minimum):
        assert "replicas" not in one(objects, "Deployment", name)["spec"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_exists_and_its_value_is_accepted(
    rendered: dict[str, list[Object]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered[overlay]
    env = settings_env(objects)
    for deployment in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
        for item in container(deployment).get("env", []):
            env[item["name"]] = item["value"]
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {"PIXELMILL_PORT"}
    for name in env:
        if name.startswith(ENV_PREFIX):
            assert name in known, f"{name} is no setting of pixelmill"
    for name in [n for n in list(os.environ) if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    load_settings()  # a value it refuses raises SettingsError naming the variable


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_is_probed_drained_budgeted_and_scaled(
    rendered: dict[str, list[Object]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered[overlay]
    api = one(objects, "Deployment", "pixelmill-api")
    pod = api["spec"]["template"]
    main = container(api)
    (http,) = [p for p in main["ports"] if p["name"] == "http"]
    # the probes ask the app's probe routes, on the port the server listens on
    env = {item["name"]: item["value"] for item in main["env"]}
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX) or n == "PORT"]:
        monkeypatch.delenv(name)
    for name, value in {**settings_env(objects), **env}.items():
        monkeypatch.setenv(name, value)
    assert http["containerPort"] == load_settings().port
    for kind, path in PROBES.items():
        probe = main[kind]
        assert set(probe) & {"httpGet", "exec", "tcpSocket", "grpc"} == {"httpGet"}, kind
        get = probe["httpGet"]
        assert get["path"] == path and get.get("scheme", "HTTP") == "HTTP", kind
        assert get["port"] in (http["name"], http["containerPort"]), kind
        assert "host" not in get and "httpHeaders" not in get, kind  # the pod's own, no key
    # the first start may migrate the database: the startup probe waits 120 s for it
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    # the drain: out of the endpoints first, then SIGTERM, then the longest request
    drain = main["lifecycle"]["preStop"]["sleep"]["seconds"]
    longest = float(settings_env(objects)[f"{ENV_PREFIX}PROCESSING_TIMEOUT_SECONDS"])
    assert drain >= 5 and pod["spec"]["terminationGracePeriodSeconds"] >= drain + longest
    # the Service and the Ingress reach that port
    service = one(objects, "Service", "pixelmill-api")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == http["name"]
    (ingress,) = of_kind(objects, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "pixelmill-api", "port": {"name": service_port["name"]}}
    # API pods spread over nodes and zones
    for spread in pod["spec"]["topologySpreadConstraints"]:
        assert spread["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    # the budget covers the API pods and no worker's
    selector = one(objects, "PodDisruptionBudget", "pixelmill-api")["spec"]["selector"]
    for deployment in of_kind(objects, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert (selector["matchLabels"].items() <= labels.items()) == (deployment is api)
    hpa = one(objects, "HorizontalPodAutoscaler", "pixelmill-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "pixelmill-api",
    }
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    # the pool matches the CPU limit
    assert float(env["PIXELMILL_PROCESS_WORKERS"]) <= quantity(main["resources"]["limits"]["cpu"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_bounded_non_root_read_only_and_refer_to_what_exists(
    rendered: dict[str, list[Object]], overlay: str
) -> None:
    objects = rendered[overlay]
    user = int(re.search(r"^USER (\d+)$", (ROOT / "Dockerfile").read_text(), re.M)[1])  # type: ignore[index]
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    images = set()
    for workload in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
        spec = workload["spec"]["template"]["spec"]
        label = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsUser"] == user, label
        assert spec["securityContext"]["runAsNonRoot"] is True
        main = container(workload)
        images.add(main["image"])
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        # read-only root: the data dir (logs, temporary files) and /tmp are volumes
        mounts = {m["mountPath"] for m in main["volumeMounts"]}
        assert {"/app/data", "/tmp"} <= mounts, label
        resources = main["resources"]
        for what in ("cpu", "memory"):
            assert quantity(resources["requests"][what]) <= quantity(resources["limits"][what])
        for source in main["envFrom"]:
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source:
                    assert (kind, source[key]["name"]) in names, label
        for volume in spec["volumes"]:
            if "persistentVolumeClaim" in volume:
                claim_name = volume["persistentVolumeClaim"]["claimName"]
                claim = one(objects, "PersistentVolumeClaim", claim_name)
                assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    (image,) = images
    assert not image.endswith(":latest") and ":" in image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stored_images_are_shared_by_every_pod_that_reads_or_writes_them(
    rendered: dict[str, list[Object]], overlay: str
) -> None:
    objects = rendered[overlay]
    env = settings_env(objects)
    if f"{ENV_PREFIX}STORAGE_URL" in env:
        assert env[f"{ENV_PREFIX}STORAGE_URL"].startswith("s3://")
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
        return
    folder = env[f"{ENV_PREFIX}STORAGE_DIR"]
    for name in ("api", "storer", "faces"):
        deployment = one(objects, "Deployment", f"pixelmill-{name}")
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        (mount,) = [m for m in container(deployment)["volumeMounts"] if m["mountPath"] == folder]
        assert "persistentVolumeClaim" in volumes[mount["name"]], name


def test_the_probed_paths_are_public_documented_get_routes(tmp_path: Path) -> None:
    """What the probes ask exists, answers GET and needs no API key even with keys set (a
    kubelet sends none)."""
    app = create_app(
        Settings(data_dir=tmp_path / "data", results_dir=tmp_path / "results", api_keys="k-1")
    )
    paths = app.openapi()["paths"]
    for path in set(PROBES.values()):
        responses = paths[path]["get"]["responses"]
        assert {"200", "503"} <= set(responses) and "401" not in responses, path
        assert is_open(path), path


# --- a read-only root, as the pods have -------------------------------------------------------

# A private mount namespace: a read-only bind of the whole machine, with only what the pods
# mount writable (a tmpfs /tmp holding the data and results dirs; /dev/shm), and the server
# chrooted into it. The machine's own mounts are not touched.
READ_ONLY_ROOT = """
set -eu
root="$1"; scratch="$2"; shift 2
mount --make-rprivate /
mount --rbind / "$root"
mount -o remount,bind,ro "$root"
if touch "$root/$scratch/read-only-check" 2>/dev/null; then echo "root is writable"; exit 99; fi
mount -t tmpfs -o size=512m tmpfs "$root/tmp"
mkdir -p "$root/tmp/app/data" "$root/tmp/app/results"
cd "$root"
exec chroot "$root" "$@"
"""


def jpeg(array: Any) -> bytes:
    out = BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=90)
    return out.getvalue()


def test_pixelmill_serves_every_surface_on_a_read_only_root(tmp_path: Path) -> None:
    """What the pods' readOnlyRootFilesystem allows: nothing written outside the volumes."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        missing("a read-only root needs root and unshare (util-linux) to make a mount namespace")
    port = free_port()
    root = tmp_path / "root"
    root.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/pixelmill",
        "PIXELMILL_DATA_DIR": "/tmp/app/data",
        "PIXELMILL_RESULTS_DIR": "/tmp/app/results",
        "PIXELMILL_PORT": str(port),
    }
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_ROOT]
    command += ["sh", str(root), str(tmp_path), "/usr/bin/env", "-i"]
    command += [f"{key}={value}" for key, value in env.items()]
    command += [sys.executable, "-m", "pixelmill", "serve"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    astronaut, coffee = jpeg(photos.astronaut()), jpeg(photos.coffee())
    try:
        wait_healthy(url, process, log, timeout=120)
        transform = httpx.post(
            url + "/v1/transform",
            files={"file": ("a.jpg", astronaut)},
            data={"ops": "resize=0.5,grayscale"},
            timeout=120,
        )
        assert transform.status_code == 200 and Image.open(BytesIO(transform.content)).size == (
            256,
            256,
        )
        collage = httpx.post(
            url + "/process",
            files={"image1": ("a.jpg", astronaut), "image2": ("c.jpg", coffee)},
            timeout=120,
        )
        assert collage.status_code == 200 and collage.content.startswith(b"\x89PNG")
        caption = httpx.post(
            url + "/api/images",
            files={"image": ("a.jpg", astronaut)},
            data={"description": "read-only"},
            timeout=120,
        )
        face = httpx.post(
            url + "/api/v1/images", files={"image": ("a.jpg", astronaut)}, timeout=120
        )
        assert (caption.status_code, face.status_code) == (202, 202)
        stored = {
            f"{url}/api/images/{caption.json()['id']}": False,
            url + face.json()["url"]: False,
        }
        deadline = time.monotonic() + 120  # a guard against hanging, not a speed check
        while time.monotonic() < deadline and not all(stored.values()):
            for image_url in stored:
                answer = httpx.get(image_url, timeout=10)
                stored[image_url] = answer.status_code == 200 and answer.content[:2] == b"\xff\xd8"
            time.sleep(0.2)
        assert all(stored.values()), (stored, log.read_text(errors="replace")[-3000:])
    finally:
        stop(process)
    assert "Read-only file system" not in log.read_text(errors="replace")


# --- KEDA's lag metric on pixelmill's own streams -------------------------------------------


def keda_lag(client: redis.Redis, stream: str, group: str) -> int:
    """What KEDA's redis-streams scaler reads with `lagCount` (pkg/scalers/redis_streams_
    scaler.go): the group's lag from XINFO GROUPS, XLEN while the group does not exist yet,
    0 without the stream. go-redis reads a lag Redis cannot tell (nil) as 0."""
    if not client.exists(stream):
        return 0
    for info in client.xinfo_groups(stream):
        if info["name"].decode() == group:
            assert info["lag"] is not None, "Redis cannot tell the lag: KEDA would see 0"
            return int(info["lag"])
    return int(client.xlen(stream))


def keda_pending(client: redis.Redis, stream: str, group: str) -> int:
    return int(client.xpending(stream, group)["pending"])


def test_kedas_lag_counts_the_work_waiting_on_pixelmills_streams(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    service = SERVICES[1]  # the storer: the one that scales to zero everywhere
    queue = RedisQueue(redis_client, redis_prefix, max_length=100, claim_idle_ms=60_000)
    stream, group, key = service.stream, service.name, f"{redis_prefix}:{service.stream}"
    # at zero replicas no worker has made the group yet: KEDA falls back to XLEN and wakes one
    queue.put_many(stream, [{"n": str(i).encode()} for i in range(5)])
    assert keda_lag(redis_client, key, group) == 5
    # one worker takes a batch of 2, stores one, dead-letters the other
    first, second = queue.take(stream, group, "w1", count=2, block_ms=100)
    assert (keda_lag(redis_client, key, group), keda_pending(redis_client, key, group)) == (3, 2)
    queue.ack(stream, group, first.id)
    queue.dead_letter(stream, group, second, "bad")
    assert (keda_lag(redis_client, key, group), keda_pending(redis_client, key, group)) == (3, 0)
    assert redis_client.xlen(f"{redis_prefix}:{dead_stream(stream)}") == 1
    # the rest is done: nothing waits, nothing is in hand, KEDA may go back to zero
    rest = queue.take(stream, group, "w1", count=16, block_ms=100)
    queue.ack(stream, group, *[message.id for message in rest])
    assert (keda_lag(redis_client, key, group), keda_pending(redis_client, key, group)) == (0, 0)
    # a worker killed with messages in hand: no lag, but the in-hand trigger keeps one replica
    queue.put_many(stream, [{"n": b"5"}, {"n": b"6"}])
    queue.take(stream, group, "w2", count=16, block_ms=100)
    assert (keda_lag(redis_client, key, group), keda_pending(redis_client, key, group)) == (0, 2)
