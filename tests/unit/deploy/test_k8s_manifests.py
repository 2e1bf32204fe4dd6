"""The Kubernetes manifests in deploy/k8s, checked offline.

No cluster and no network here, so two layers stand in for ``kubectl --dry-run=server``:
compact JSON Schemas of the API subset the manifests use (``schemas/``, unknown fields
refused, so a typo such as ``readinesProbe`` fails instead of being silently dropped by
the API server's pruning), and cross-object checks a schema cannot express: selectors,
ports, probe targets, the HPA target, settings names, the kustomization's list.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from vecfleet.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
APP_SOURCE = ROOT / "vecfleet" / "api" / "app.py"

Doc = dict[str, Any]


# --- loading -------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def documents() -> list[tuple[str, Doc]]:
    out = []
    for path in manifest_files():
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        out.extend((f"{path.name}#{i}", doc) for i, doc in enumerate(docs))
    return out


DOCS = documents()


def load_validators() -> dict[tuple[str, str], Draft202012Validator]:
    schemas = [json.loads(path.read_text()) for path in sorted(SCHEMAS.glob("*.json"))]
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas
    )
    validators = {}
    for schema in schemas:
        Draft202012Validator.check_schema(schema)
        api_kind = schema["$id"].removeprefix("urn:vecfleet:k8s:")
        if api_kind == "common":
            continue
        api_version, kind = api_kind.rsplit("/", 1)
        validators[api_version, kind] = Draft202012Validator(schema, registry=registry)
    return validators


VALIDATORS = load_validators()


def of_kind(kind: str) -> list[Doc]:
    return [doc for _, doc in DOCS if doc["kind"] == kind]


def one(kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def workloads() -> list[Doc]:
    return of_kind("StatefulSet") + of_kind("Deployment")


def containers() -> Iterator[tuple[Doc, Doc]]:
    for workload in workloads():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            yield workload, container


def schema_errors(doc: Doc) -> list[str]:
    validator = VALIDATORS.get((doc.get("apiVersion", ""), doc.get("kind", "")))
    assert validator is not None, (
        f"no schema for {doc.get('apiVersion')} {doc.get('kind')}: add one to {SCHEMAS}"
    )
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(doc)
    ]


# --- helpers -------------------------------------------------------------------------


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a label selector (or a Service's plain selector map) matches ``labels``."""
    if "matchLabels" in selector or "matchExpressions" in selector:
        match_labels = selector.get("matchLabels", {})
        expressions = selector.get("matchExpressions", [])
    else:
        match_labels, expressions = selector, []
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expr in expressions:
        key, values = expr["key"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[expr["operator"]]
        if not ok:
            return False
    return True


def pod_labels(workload: Doc) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def selected_workloads(selector: Doc) -> list[Doc]:
    return [w for w in workloads() if selects(selector, pod_labels(w))]


def resolves_to_port(port: int | str, container: Doc) -> bool:
    ports = container.get("ports", [])
    if isinstance(port, int):
        return any(p["containerPort"] == port for p in ports)
    return any(p.get("name") == port for p in ports)


_SUFFIXES = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_SUFFIXES.update({"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40})


def quantity(value: str | float) -> float:
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    assert match is not None and match[2] in _SUFFIXES, f"unparsed quantity {value!r}"
    return float(match[1]) * _SUFFIXES[match[2]]


# --- schemas -------------------------------------------------------------------------


def test_the_folder_holds_manifests() -> None:
    kinds = sorted({doc["kind"] for _, doc in DOCS})
    assert kinds == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Kustomization",
        "PodDisruptionBudget",
        "Service",
        "StatefulSet",
    ]


@pytest.mark.parametrize(("where", "doc"), DOCS, ids=[where for where, _ in DOCS])
def test_every_document_matches_its_schema(where: str, doc: Doc) -> None:
    assert schema_errors(doc) == [], where


def _container(doc: Doc) -> Doc:
    return doc["spec"]["template"]["spec"]["containers"][0]


NODE = ("StatefulSet", "vecfleet-node")
GATEWAY = ("Deployment", "vecfleet-gateway")
MUTATIONS: list[tuple[tuple[str, str], str, Callable[[Doc], None]]] = [
    (NODE, "metadata typo", lambda d: d["metadata"].update(lables={"a": "b"})),
    (NODE, "spec typo", lambda d: d["spec"].update(podManagmentPolicy="Parallel")),
    (NODE, "container typo", lambda d: _container(d).update(readinesProbe={})),
    (NODE, "tcp probe typo", lambda d: _container(d)["livenessProbe"]["tcpSocket"].update(prot=1)),
    (NODE, "probe without handler", lambda d: _container(d)["livenessProbe"].pop("tcpSocket")),
    (NODE, "env typo", lambda d: _container(d)["env"][0].update(valeu="x")),
    (NODE, "replicas as text", lambda d: d["spec"].update(replicas="3")),
    (NODE, "port as text", lambda d: _container(d)["ports"][0].update(containerPort="7070")),
    (NODE, "port name too long", lambda d: _container(d)["ports"][0].update(name="a" * 16)),
    (NODE, "bad policy", lambda d: d["spec"].update(podManagementPolicy="parallel")),
    (NODE, "bad quantity", lambda d: _container(d)["resources"]["limits"].update(memory="8 GB")),
    (NODE, "no image", lambda d: _container(d).pop("image")),
    (NODE, "value and valueFrom", lambda d: _container(d)["env"][0].update(value="x")),
    (
        NODE,
        "claim typo",
        lambda d: d["spec"]["volumeClaimTemplates"][0]["spec"].update(acessModes=[]),
    ),
    (
        GATEWAY,
        "http probe typo",
        lambda d: _container(d)["readinessProbe"]["httpGet"].update(paht="/"),
    ),
    (GATEWAY, "strategy typo", lambda d: d["spec"]["strategy"].update(rollingUpdates={})),
    (
        GATEWAY,
        "secret ref typo",
        lambda d: _container(d)["env"][-1]["valueFrom"].update(secretRef={}),
    ),
    (
        GATEWAY,
        "two preStop actions",
        lambda d: _container(d)["lifecycle"]["preStop"].update(exec={"command": ["x"]}),
    ),
]


@pytest.mark.parametrize(
    ("target", "mutate"), [(t, m) for t, _, m in MUTATIONS], ids=[n for _, n, _ in MUTATIONS]
)
def test_schemas_refuse_typos_and_wrong_types(
    target: tuple[str, str], mutate: Callable[[Doc], None]
) -> None:
    doc = copy.deepcopy(one(*target))
    assert schema_errors(doc) == []
    mutate(doc)
    assert schema_errors(doc) != []


def test_an_unknown_api_version_has_no_schema() -> None:
    doc = copy.deepcopy(one(*NODE))
    doc["apiVersion"] = "apps/v1beta1"
    with pytest.raises(AssertionError, match="no schema"):
        schema_errors(doc)


# --- cross-object checks -------------------------------------------------------------


@pytest.mark.parametrize("workload", workloads(), ids=lambda w: w["metadata"]["name"])
def test_selectors_match_their_pod_template(workload: Doc) -> None:
    assert selects(workload["spec"]["selector"], pod_labels(workload))


def test_workload_selectors_do_not_overlap() -> None:
    for workload in workloads():
        assert selected_workloads(workload["spec"]["selector"]) == [workload]


def test_headless_service_selects_the_statefulset_pods() -> None:
    nodes = one("StatefulSet", "vecfleet-node")
    service = one("Service", nodes["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert selected_workloads(service["spec"]["selector"]) == [nodes]


@pytest.mark.parametrize("service", of_kind("Service"), ids=lambda s: s["metadata"]["name"])
def test_services_select_one_workload_and_reach_its_ports(service: Doc) -> None:
    targets = selected_workloads(service["spec"]["selector"])
    assert len(targets) == 1, [t["metadata"]["name"] for t in targets]
    pod_containers = targets[0]["spec"]["template"]["spec"]["containers"]
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        assert any(resolves_to_port(target, c) for c in pod_containers), port


def test_node_and_gateway_ports() -> None:
    node = _container(one("StatefulSet", "vecfleet-node"))
    gateway = _container(one("Deployment", "vecfleet-gateway"))
    assert {p["name"]: p["containerPort"] for p in node["ports"]} == {
        "grpc": 7070,
        "metrics": 9100,
    }
    assert {p["name"]: p["containerPort"] for p in gateway["ports"]} == {"http": 8080}


PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def test_probes_point_at_declared_container_ports() -> None:
    for workload, container in containers():
        assert "livenessProbe" in container and "readinessProbe" in container
        for kind in PROBES:
            probe = container.get(kind)
            if probe is None:
                continue
            handler = probe.get("httpGet") or probe.get("grpc") or probe.get("tcpSocket")
            assert handler is not None, (workload["metadata"]["name"], kind)
            assert resolves_to_port(handler["port"], container), (container["name"], kind)


def test_gateway_probes_use_routes_the_app_serves() -> None:
    served = set(re.findall(r'Route\(\s*"(/[^"]*)"', APP_SOURCE.read_text()))
    gateway = _container(one("Deployment", "vecfleet-gateway"))
    paths = {gateway[kind]["httpGet"]["path"] for kind in PROBES if kind in gateway}
    assert paths == {"/health/live", "/health/ready"}
    assert paths <= served, f"{APP_SOURCE} serves {sorted(served)}"


def test_hpa_scales_the_gateway_deployment_on_cpu() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    gateway = one("Deployment", "vecfleet-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": gateway["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 20)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
    ]
    # The HPA owns the replica count, and CPU utilisation is a share of the request.
    assert "replicas" not in gateway["spec"]
    assert all(
        "cpu" in c["resources"]["requests"]
        for c in gateway["spec"]["template"]["spec"]["containers"]
    )


def test_node_pdb_selects_only_node_pods() -> None:
    nodes = one("StatefulSet", "vecfleet-node")
    pdb = one("PodDisruptionBudget", "vecfleet-node")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert selected_workloads(pdb["spec"]["selector"]) == [nodes]


@pytest.mark.parametrize("pdb", of_kind("PodDisruptionBudget"), ids=lambda p: p["metadata"]["name"])
def test_every_pdb_guards_one_workload(pdb: Doc) -> None:
    assert len(selected_workloads(pdb["spec"]["selector"])) == 1


def test_statefulset_keeps_data_and_spreads_over_machines() -> None:
    nodes = one("StatefulSet", "vecfleet-node")
    spec = nodes["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    claims = {t["metadata"]["name"] for t in spec["volumeClaimTemplates"]}
    mounted = {m["name"] for m in _container(nodes)["volumeMounts"]}
    assert claims == {"data"} and claims <= mounted
    terms = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert any(
        t["topologyKey"] == "kubernetes.io/hostname"
        and selects(t["labelSelector"], pod_labels(nodes))
        for t in terms
    )


def test_volume_mounts_name_a_volume_or_claim() -> None:
    for workload, container in containers():
        spec = workload["spec"]
        names = {v["name"] for v in spec["template"]["spec"].get("volumes", [])}
        names |= {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in names, (container["name"], mount)


def test_requests_are_set_and_within_limits() -> None:
    for _, container in containers():
        requests = container["resources"]["requests"]
        limits = container["resources"]["limits"]
        assert {"cpu", "memory"} <= set(requests), container["name"]
        for resource, limit in limits.items():
            assert quantity(requests[resource]) <= quantity(limit), (container["name"], resource)


# --- settings ------------------------------------------------------------------------

_ENV_NAME = re.compile(
    r"VECFLEET__([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)__([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)"
)


def env_vars() -> Iterator[tuple[str, Doc]]:
    for _, container in containers():
        for env in container.get("env", []):
            yield container["name"], env


def test_vecfleet_variables_are_section_and_key() -> None:
    defaults = Settings()
    seen = 0
    for container, env in env_vars():
        name = env["name"]
        if not name.upper().startswith("VECFLEET"):
            continue
        # VECFLEET_CACHE__L2_URL would be ignored without a word: refuse near misses too.
        assert name.startswith(ENV_PREFIX), f"{container}: {name} must start with {ENV_PREFIX}"
        seen += 1
        match = _ENV_NAME.fullmatch(name)
        assert match, f"{container}: {name} must look like VECFLEET__SECTION__KEY"
        section, key = match[1].lower(), match[2].lower()
        assert hasattr(defaults, section), f"{container}: {name}: no settings section {section!r}"
        keys = {f.name for f in dataclasses.fields(getattr(defaults, section))}
        assert key in keys, f"{container}: {name}: section {section} has no {key!r}"
    assert seen >= 10


def env_of(kind: str, name: str) -> dict[str, Doc]:
    return {e["name"]: e for e in _container(one(kind, name))["env"]}


def test_processes_listen_beyond_loopback_on_their_declared_ports() -> None:
    # The settings default to 127.0.0.1, which no other pod can reach.
    node = env_of("StatefulSet", "vecfleet-node")
    gateway = env_of("Deployment", "vecfleet-gateway")
    assert node["VECFLEET__CLUSTER__NODE_HOST"]["value"] == "0.0.0.0"
    assert gateway["VECFLEET__SERVER__HOST"]["value"] == "0.0.0.0"
    node_ports = {
        p["name"]: p["containerPort"]
        for p in _container(one("StatefulSet", "vecfleet-node"))["ports"]
    }
    assert int(node["VECFLEET__CLUSTER__NODE_PORT"]["value"]) == node_ports["grpc"]
    assert int(gateway["VECFLEET__SERVER__PORT"]["value"]) == 8080
    # The advertised name resolves through the headless Service.
    service = one("StatefulSet", "vecfleet-node")["spec"]["serviceName"]
    assert f".{service}." in node["VECFLEET__CLUSTER__ADVERTISE_HOST"]["value"]


def test_nodes_and_gateways_agree_on_the_log() -> None:
    node = env_of("StatefulSet", "vecfleet-node")
    gateway = env_of("Deployment", "vecfleet-gateway")
    for name in ("VECFLEET__NATS__URL", "VECFLEET__NATS__STREAM_REPLICAS"):
        assert node[name] == gateway[name], name
    nats_servers = load_values("nats.yaml")["config"]["cluster"]["replicas"]
    assert int(gateway["VECFLEET__NATS__STREAM_REPLICAS"]["value"]) <= nats_servers
    node_count = one("StatefulSet", "vecfleet-node")["spec"]["replicas"]
    assert int(gateway["VECFLEET__CLUSTER__DEFAULT_REPLICAS"]["value"]) <= node_count


def test_variable_references_name_an_earlier_variable() -> None:
    for workload, container in containers():
        defined: set[str] = set()
        for env in container.get("env", []):
            for ref in re.findall(r"\$\(([^)]+)\)", env.get("value", "")):
                assert ref in defined, (workload["metadata"]["name"], env["name"], ref)
            defined.add(env["name"])


def test_gateway_reaches_nats_and_redis_by_their_release_names() -> None:
    releases = dict(
        (chart.split("/")[-1], name)
        for name, chart in re.findall(r"helm install (\S+) (\S+)", (K8S / "README.md").read_text())
    )
    assert releases == {"nats": "nats", "redis": "redis"}
    env = env_of("Deployment", "vecfleet-gateway")
    assert env["VECFLEET__NATS__URL"]["value"] == f"nats://{releases['nats']}:4222"
    assert f"@{releases['redis']}-master:6379/" in env["VECFLEET__CACHE__L2_URL"]["value"]
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == releases["redis"]


# --- kustomization and Helm values ---------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = of_kind("Kustomization")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in manifest_files()} - {"kustomization.yaml"}
    assert listed == on_disk
    images = {c["image"].split(":")[0] for _, c in containers()}
    assert images == {i["name"] for i in kustomization["images"]}


def load_values(name: str) -> Doc:
    values = yaml.safe_load((K8S / "values" / name).read_text())
    assert isinstance(values, dict)
    return values


def test_nats_values_enable_jetstream_on_files_in_a_three_server_cluster() -> None:
    config = load_values("nats.yaml")["config"]
    jetstream = config["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    assert jetstream.get("memoryStore", {}).get("enabled", False) is False
    assert config["cluster"]["enabled"] is True
    assert config["cluster"]["replicas"] == 3  # quorum for replicas=3 streams


def test_redis_values_make_an_lru_cache_without_persistence() -> None:
    values = load_values("redis.yaml")
    assert values["architecture"] == "replication"
    assert values["master"]["persistence"]["enabled"] is False
    assert values["replica"]["persistence"]["enabled"] is False
    directives = dict(
        line.split(maxsplit=1) for line in values["commonConfiguration"].splitlines() if line
    )
    assert directives["maxmemory-policy"] == "allkeys-lru"
    assert directives["appendonly"] == "no"
    assert quantity(directives["maxmemory"].replace("mb", "Mi")) < quantity(
        values["master"]["resources"]["limits"]["memory"]
    )
