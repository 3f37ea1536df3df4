"""Static checks of deploy/: Dockerfile (hadolint + stage rules), compose.yaml (compose-spec
schema + KRaft settings), Kubernetes manifests (official JSON schemas via kubernetes-validate)."""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer
import yaml
from typer.testing import CliRunner

from bridge.cli import app as cli_app
from bridge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
ENV_EXAMPLE = DEPLOY / "bridge.env.example"

# Roles the image can run (DESIGN.md §5); the manifests may use only these.
ROLES = {"serve", "sync", "writeback", "listen", "run", "reconcile"}
# Roles not registered on the CLI yet: other branches add them. Remove a name once it lands.
EXPECTED_FUTURE_ROLES = {"serve", "sync", "writeback", "listen", "run", "reconcile"}
# Settings the manifests set that bridge.settings.Settings does not define yet (other branches:
# receiver verifies the outbound-message org id; writeback/backfill call the billing APIs).
EXPECTED_FUTURE_SETTINGS = {
    "BRIDGE_SALESFORCE_ORGANIZATION_ID",
    "BRIDGE_ORB_API_KEY",
    "BRIDGE_CHARGEBEE_API_KEY",
}
# The receiver's routes (DESIGN.md §5), checked against bridge.app when that module exists.
RECEIVER_ROUTES = {
    "/webhooks/orb",
    "/webhooks/chargebee",
    "/webhooks/salesforce",
    "/healthz",
    "/readyz",
    "/metrics",
}
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
BRIDGE_IMAGE = "billing-salesforce-bridge"


def _yaml_files() -> list[Path]:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    return [f for f in files if "kafka" not in f.relative_to(DEPLOY).parts[:1]]


def _k8s_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)
    return objects


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in _k8s_objects() if o["kind"] == kind]


def _named(kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in _by_kind(kind) if o["metadata"]["name"] == name]
    return obj


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = [(d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in _by_kind("Deployment")]
    specs += [
        (c["metadata"]["name"], c["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for c in _by_kind("CronJob")
    ]
    return specs


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _bridge_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _compose()["services"].items() if s.get("image", "").startswith(BRIDGE_IMAGE)}


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions (KEYWORD, arguments) per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword.upper(), rest.strip()))
    return stages


# ---- every file -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deploy_yaml_file_parses_into_mappings(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no document"
    assert all(isinstance(d, dict) for d in docs)


# ---- Kubernetes -------------------------------------------------------------------------------


def test_manifests_hold_every_required_kind() -> None:
    kinds = {o["kind"] for o in _k8s_objects()}
    assert {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "CronJob",
        "PodDisruptionBudget",
    } <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_k8s_object_validates_strictly_against_the_kubernetes_schema(version: str) -> None:
    for obj in _k8s_objects():
        assert {"apiVersion", "kind", "metadata"} <= obj.keys(), obj
        assert obj["metadata"].get("name"), obj
        kubernetes_validate.validate(obj, version, strict=True)


def test_schema_validation_rejects_a_misspelt_field() -> None:
    deployment = json.loads(json.dumps(_named("Deployment", "bridge-receiver")))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_namespaced_object_lives_in_the_bridge_namespace() -> None:
    (namespace,) = _by_kind("Namespace")
    for obj in _k8s_objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"], obj["metadata"]


def test_every_pod_runs_non_root_with_a_read_only_root_filesystem_and_resources() -> None:
    for name, spec in _pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        for container in spec["containers"]:
            assert container["image"].startswith(BRIDGE_IMAGE), name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["resources"]["requests"] and container["resources"]["limits"], name


def test_every_container_runs_a_known_role() -> None:
    roles = {c["args"][0] for _, spec in _pod_specs() for c in spec["containers"]}
    assert roles <= ROLES
    assert {"serve", "sync", "writeback", "listen", "reconcile"} <= roles


def test_roles_are_registered_on_the_cli_or_listed_as_expected_future() -> None:
    command = typer.main.get_command(cli_app)
    assert isinstance(command, typer.core.TyperGroup)
    registered = set(command.commands)
    assert "kafka" in registered, "the CLI's command list was not read"
    missing = ROLES - registered - EXPECTED_FUTURE_ROLES
    assert not missing, f"roles neither on the CLI nor expected: {missing}"
    for role in sorted(ROLES & registered):
        result = CliRunner().invoke(cli_app, [role, "--help"])
        assert result.exit_code == 0, (role, result.output)


def test_references_to_configmaps_and_secrets_point_at_defined_objects() -> None:
    config_maps = {o["metadata"]["name"] for o in _by_kind("ConfigMap")}
    secrets = {o["metadata"]["name"] for o in _by_kind("Secret")}
    for name, spec in _pod_specs():
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, name
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name


def test_secret_templates_hold_only_placeholders() -> None:
    for secret in _by_kind("Secret"):
        assert "data" not in secret, "templates use stringData with visible placeholders"
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{secret['metadata']['name']}.{key} looks like a real value"


def test_salesforce_key_file_setting_points_into_the_mounted_key_secret() -> None:
    key_file = Path(_named("ConfigMap", "bridge-settings")["data"]["BRIDGE_SALESFORCE_PRIVATE_KEY_FILE"])
    for name, spec in _pod_specs():
        volumes = {v["name"]: v for v in spec["volumes"] if "secret" in v}
        mounts = [m for c in spec["containers"] for m in c.get("volumeMounts", []) if m["name"] in volumes]
        if name == "bridge-receiver":
            assert not mounts, "the receiver never calls Salesforce: keep the key away from it"
            continue
        (mount,) = mounts
        assert key_file.parent == Path(mount["mountPath"]), name
        secret = _named("Secret", volumes[mount["name"]]["secret"]["secretName"])
        assert key_file.name in secret["stringData"], name


def test_receiver_probes_use_routes_the_receiver_serves() -> None:
    (container,) = _named("Deployment", "bridge-receiver")["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"/readyz", "/healthz"} <= RECEIVER_ROUTES
    # Read the receiver's route table from its source once it exists (the receiver branch adds
    # bridge/app.py); building the app here would register its Prometheus metrics a second time.
    receiver_source = ROOT / "bridge" / "app.py"
    if receiver_source.exists():
        routes = set(re.findall(r'Route\(\s*"([^"]+)"', receiver_source.read_text()))
        assert {"/readyz", "/healthz"} <= routes, routes


def test_receiver_deployment_is_redundant_scraped_and_exposed() -> None:
    deployment = _named("Deployment", "bridge-receiver")
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert deployment["spec"]["replicas"] >= 2
    assert container["args"] == ["serve"]
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == Settings.model_fields["http_port"].default
    assert int(_named("ConfigMap", "bridge-settings")["data"]["BRIDGE_HTTP_PORT"]) == port["containerPort"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] in RECEIVER_ROUTES
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]

    pod_labels = template["metadata"]["labels"]
    service = _named("Service", "bridge-receiver")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {port["name"], port["containerPort"]}
    pdb = _named("PodDisruptionBudget", "bridge-receiver")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert 1 <= pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]


@pytest.mark.parametrize("name", ["bridge-sync", "bridge-writeback"])
def test_consumer_replicas_do_not_exceed_the_partition_count(name: str) -> None:
    replicas = _named("Deployment", name)["spec"]["replicas"]
    configured = int(_named("ConfigMap", "bridge-settings")["data"]["BRIDGE_TOPIC_PARTITIONS"])
    assert 1 <= replicas <= Settings.model_fields["topic_partitions"].default
    assert replicas <= configured


def test_listener_runs_exactly_one_pod_and_never_overlaps() -> None:
    deployment = _named("Deployment", "bridge-listener")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["listen"]


def test_reconcile_cronjob_runs_once_a_day_without_overlap() -> None:
    (cronjob,) = _by_kind("CronJob")
    minute, hour, day, month, weekday = cronjob["spec"]["schedule"].split()
    assert minute.isdigit() and 0 <= int(minute) < 60
    assert hour.isdigit() and 0 <= int(hour) < 24
    assert (day, month, weekday) == ("*", "*", "*")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "reconcile"


# ---- settings referenced anywhere ---------------------------------------------------------------


def _env_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}

    def add(where: str, keys: Any) -> None:
        for key in keys:
            names.setdefault(str(key), set()).add(where)

    for cm in _by_kind("ConfigMap"):
        add(f"ConfigMap/{cm['metadata']['name']}", cm["data"])
    env_secrets = {
        s["secretRef"]["name"]
        for _, spec in _pod_specs()
        for c in spec["containers"]
        for s in c.get("envFrom", [])
        if "secretRef" in s
    }
    for secret in _by_kind("Secret"):
        if secret["metadata"]["name"] in env_secrets:
            add(f"Secret/{secret['metadata']['name']}", secret["stringData"])
    for name, spec in _pod_specs():
        for container in spec["containers"]:
            add(f"pod/{name}", [e["name"] for e in container.get("env", [])])
    for name, service in _bridge_services().items():
        add(f"compose/{name}", service.get("environment", {}))
    lines = [ln for ln in ENV_EXAMPLE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    add("bridge.env.example", [ln.split("=", 1)[0] for ln in lines])
    dockerfile_env = " ".join(a for s in _dockerfile_stages() for k, a in s if k == "ENV")
    add("Dockerfile", re.findall(r"\b(BRIDGE_[A-Z0-9_]+)=", dockerfile_env))
    return names


def test_every_env_var_is_a_bridge_setting_or_an_expected_future_one() -> None:
    known = {f"BRIDGE_{field.upper()}" for field in Settings.model_fields}
    names = _env_names()
    assert len(names) > 10
    unknown = {
        n: sorted(w)
        for n, w in names.items()
        if not n.startswith("BRIDGE_") or n not in known | EXPECTED_FUTURE_SETTINGS
    }
    assert not unknown


def test_env_example_holds_no_real_secret() -> None:
    secret_fields = {
        f"BRIDGE_{n.upper()}" for n, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)
    } | {"BRIDGE_ORB_API_KEY", "BRIDGE_CHARGEBEE_API_KEY"}
    values = dict(
        ln.split("=", 1)
        for ln in ENV_EXAMPLE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    )
    assert secret_fields & values.keys()
    for key in secret_fields & values.keys():
        assert values[key].startswith("change-me"), key
    assert "bridge.env" in (ROOT / ".gitignore").read_text()


# ---- compose ----------------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec_schema() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors


def test_compose_schema_check_rejects_an_unknown_service_key() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    broken = _compose()
    broken["services"]["kafka"]["helthcheck"] = broken["services"]["kafka"].pop("healthcheck")
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_compose_kafka_is_a_single_kraft_broker_and_controller() -> None:
    kafka = _compose()["services"]["kafka"]
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == 1 and voters[0].split("@")[0] == env["KAFKA_NODE_ID"]
    protocol = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = {entry.split("://")[0] for entry in env["KAFKA_LISTENERS"].split(",")}
    advertised = {entry.split("://")[0] for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert listeners <= protocol.keys()
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners - advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
    ):
        assert env[key] == "1", key
    assert kafka["healthcheck"]["test"]
    # The image refuses to start in KRaft mode without CLUSTER_ID: a base64url UUID (16 bytes).
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16


def test_compose_bridge_services_run_known_roles_after_a_healthy_broker() -> None:
    services = _bridge_services()
    roles = {name: s["command"][0] for name, s in services.items()}
    assert set(roles.values()) <= ROLES
    assert {"serve", "sync", "writeback", "listen"} <= set(roles.values())
    internal = next(
        e
        for e in _compose()["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
        if e.startswith("PLAINTEXT://")
    )
    for name, service in services.items():
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name
        assert service["environment"]["BRIDGE_KAFKA_BOOTSTRAP"] == internal.removeprefix("PLAINTEXT://")
        assert [e["path"] for e in service["env_file"]] == ["bridge.env"], name
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert "/readyz" in " ".join(services["receiver"]["healthcheck"]["test"])
    http_port = str(Settings.model_fields["http_port"].default)
    assert [p.rsplit(":", 1)[-1] for p in services["receiver"]["ports"]] == [http_port]
    assert (DEPLOY / "bridge.env.example").is_file()


# ---- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_dockerfile_that_ends_as_root(tmp_path: Path) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    rooted = tmp_path / "Dockerfile"
    rooted.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    result = subprocess.run(
        [str(hadolint), "--no-color", str(rooted)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "DL3002" in result.stdout


def test_dockerfile_final_stage_is_slim_python_non_root_and_enters_through_bridge() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build the wheel apart from the runtime"
    final = stages[-1]
    preamble = DOCKERFILE.read_text().split("\nFROM ", 1)[0]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", preamble, flags=re.MULTILINE))
    base = final[0][1].split()[0]
    base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), base)
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", base), base
    users = [a for k, a in final if k == "USER"]
    assert users, "the final stage must switch to a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert json.loads(dict((k, a) for k, a in final)["ENTRYPOINT"]) == ["bridge"]
    assert json.loads(dict((k, a) for k, a in final)["CMD"]) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "bridge" in scripts
    runs = " ".join(a for k, a in final if k == "RUN")
    assert not re.search(r"apt-get install|build-essential|\bgcc\b", runs), "no build tools at runtime"
    assert "--constraint" in runs or " -c " in runs


def test_dockerfile_copies_everything_the_wheel_build_needs_and_dockerignore_keeps_it() -> None:
    hatch = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = [
        *hatch["packages"],
        *hatch.get("force-include", {}),
        "pyproject.toml",
        "constraints.txt",
        "README.md",
    ]
    copies = " ".join(a for k, a in _dockerfile_stages()[0] if k == "COPY")
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    for path in needed:
        assert any(path == src or path.startswith(src.rstrip("/") + "/") for src in copies.split()), (
            f"{path} is not copied into the build stage"
        )
        included = True  # .dockerignore semantics: the last matching pattern wins
        for pattern in patterns:
            negated = pattern.startswith("!")
            bare = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
                included = negated
        assert included, f"{path} is excluded from the build context by .dockerignore"


def test_wheel_built_from_the_build_stage_copies_holds_both_packages_and_the_script(tmp_path: Path) -> None:
    """Replays the build stage's COPYs into a directory and builds the wheel there, as pip would."""
    context = tmp_path / "src"
    for keyword, arguments in _dockerfile_stages()[0]:
        if keyword != "COPY":
            continue
        *sources, dest = arguments.split()
        for source in sources:
            target = context / dest / (Path(source).name if dest.endswith("/") else "")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target)
    result = subprocess.run(
        [sys.executable, "-c", "from hatchling.build import build_wheel; print(build_wheel('dist'))"],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(context / "dist" / result.stdout.strip().splitlines()[-1]) as wheel:
        names = wheel.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = wheel.read(entry_points).decode()
    assert "bridge/cli.py" in names
    assert "consumers/sync.py" in names
    assert "bridge/_deploy_kafka/server.properties.in" in names
    assert re.search(r"^bridge = bridge\.cli:main$", scripts, flags=re.MULTILINE)
