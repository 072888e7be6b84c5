#!/usr/bin/env python3
"""Policy checks for the deployment files: what schema validation cannot see.

Run by .ci/validate-deploy on the output of `kubectl kustomize`:

    deploy_policy.py BASE.yaml --job JOB.yaml --proxy PROXY.yaml --monitoring MONITORING.yaml
        BASE: k8s/ (what `kubectl apply -k k8s/` applies); JOB: k8s/job/ (the one-shot check);
        PROXY: k8s/ with the component components/proxy-connection-policy enabled;
        MONITORING: k8s/ with the component components/azure-monitor-prometheus enabled
    deploy_policy.py --raw k8s/*.yaml --job k8s/job/job.yaml
        the same, on the unrendered files (no kubectl available), rendered-only rules skipped
    deploy_policy.py --self-test BASE.yaml --job JOB.yaml --proxy PROXY.yaml --monitoring MONITORING.yaml
        break each rule on a copy and prove it is caught

Rules: no Secret anywhere; every pod runs as the workload identity (pod label, service account with
a client-id annotation, no API token), is hardened (non-root, read-only root filesystem, no
privilege escalation, ALL capabilities dropped, seccomp RuntimeDefault, requests and limits), runs
on Linux nodes and keeps the demo's own log filter (no RUST_LOG); the Deployment watches and has
meaningful probes; the one-shot Job is not in k8s/ but in k8s/job/, bounded, with the same image
and ConfigMap as the Deployment; the NetworkPolicy allows the Redirect range (endPort) and the
proxy component removes it; every container port is named and the NetworkPolicy lets the
probes and the metrics scrape reach the --health-addr port; the monitoring component adds only a
PodMonitor in Azure Monitor's group (azmonitoring.coreos.com/v1) with Microsoft's label limits,
selecting the watch pod's named port at /metrics, and the image is built with the `metrics`
feature that serves it; the namespace enforces the restricted Pod Security profile; fill-in
values live only in k8s/settings/; the federated credential's subject in setup-azure.sh matches the
manifests; the image's user matches the pods'; every base image is pinned by digest and the build
has a dependency layer; compose.yaml carries no password and pins SQL Server to a CU tag.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WI_LABEL = "azure.workload.identity/use"
WI_CLIENT_ID = "azure.workload.identity/client-id"
SETTINGS = "k8s/settings/kustomization.yaml"
# The files the cross-file rules read, by path under the repository.
FILES = ("Dockerfile", "compose.yaml", "k8s/setup-azure.sh")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SQLSERVER_CU = re.compile(r"^mcr\.microsoft\.com/mssql/server:2022-CU\d+-ubuntu-\d+\.\d+(@sha256:[0-9a-f]{64})?$")


class Findings:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def check(self, ok: object, message: str) -> None:
        if not ok:
            self.errors.append(message)


@dataclass
class State:
    """What the rules look at: the builds' documents and the files' texts."""

    base: list
    job: list
    proxy: list | None
    rendered: bool
    monitoring: list | None = None
    files: dict[str, str] = field(default_factory=dict)


def walk(node, path=""):
    """Yields (path, key, value) for every mapping entry in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def name_of(doc) -> str:
    return f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def pod_templates(docs):
    for doc in docs:
        if doc.get("kind") in ("Deployment", "Job"):
            yield doc, ((doc.get("spec") or {}).get("template") or {})


def containers_of(doc):
    spec = (((doc.get("spec") or {}).get("template") or {}).get("spec") or {})
    return (spec.get("containers") or []) + (spec.get("initContainers") or [])


def check_pods(docs, accounts, config_maps, f: Findings, rendered: bool) -> None:
    """The rules every pod template obeys, in whichever build it is."""
    for owner, template in pod_templates(docs):
        where = name_of(owner)
        meta = template.get("metadata") or {}
        spec = template.get("spec") or {}
        f.check((meta.get("labels") or {}).get(WI_LABEL) == "true",
                f"{where}: pod label {WI_LABEL}: \"true\" missing (the webhook would inject nothing)")
        sa_name = spec.get("serviceAccountName")
        f.check(sa_name in accounts, f"{where}: serviceAccountName {sa_name!r} is not the workload identity service account")
        f.check(spec.get("automountServiceAccountToken") is False, f"{where}: automountServiceAccountToken must be false")
        f.check((spec.get("nodeSelector") or {}).get("kubernetes.io/os") == "linux",
                f"{where}: nodeSelector kubernetes.io/os: linux missing (the image is linux/amd64)")
        psc = spec.get("securityContext") or {}
        f.check(psc.get("runAsNonRoot") is True, f"{where}: securityContext.runAsNonRoot must be true")
        f.check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")
        f.check(not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"),
                f"{where}: host namespaces must not be shared")
        containers = containers_of(owner)
        f.check(containers, f"{where}: no containers")
        for c in containers:
            cw = f"{where} container {c.get('name')}"
            sc = c.get("securityContext") or {}
            f.check(sc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation must be false")
            f.check(sc.get("readOnlyRootFilesystem") is True, f"{cw}: readOnlyRootFilesystem must be true")
            f.check(sc.get("privileged") is not True, f"{cw}: must not be privileged")
            f.check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []), f"{cw}: capabilities.drop must include ALL")
            f.check(not (sc.get("capabilities") or {}).get("add"), f"{cw}: must add no capabilities")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                f.check((res.get(kind) or {}).get("memory"), f"{cw}: resources.{kind}.memory missing")
            f.check((res.get("requests") or {}).get("cpu"), f"{cw}: resources.requests.cpu missing")
            refs = [(e.get("configMapRef") or {}).get("name") for e in (c.get("envFrom") or [])]
            f.check(any(refs), f"{cw}: takes no ConfigMap (server and database come from one)")
            if rendered:
                for ref in filter(None, refs):
                    data = (config_maps.get(ref) or {}).get("data") or {}
                    f.check(ref in config_maps, f"{cw}: envFrom ConfigMap {ref!r} is not in the output")
                    f.check("AZURE_SQL_CONNECTION_STRING" in data
                            or ("AZURE_SQL_SERVER" in data and "AZURE_SQL_DATABASE" in data),
                            f"{cw}: ConfigMap {ref!r} has neither AZURE_SQL_SERVER + AZURE_SQL_DATABASE nor AZURE_SQL_CONNECTION_STRING")
            for env in c.get("env") or []:
                name = str(env.get("name", ""))
                f.check(not re.search(r"PASSWORD|SECRET|TOKEN$", name, re.I),
                        f"{cw}: environment variable {name} looks like a secret")
                f.check(name != "RUST_LOG",
                        f"{cw}: sets RUST_LOG, overriding the demo's own default filter for every crate; drop it")

        if owner.get("kind") == "Deployment":
            for c in (template.get("spec") or {}).get("containers") or []:
                cw = f"{where} container {c.get('name')}"
                args = [str(a) for a in (c.get("args") or [])]
                f.check("--watch" in args or any(a.startswith("--watch=") for a in args), f"{cw}: not run with --watch")
                health = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--health-addr"), None)
                f.check(health, f"{cw}: no --health-addr, so the probes have nothing to ask")
                ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
                for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
                    get = (c.get(probe) or {}).get("httpGet") or {}
                    f.check(get.get("path") == path, f"{cw}: {probe} must GET {path}")
                    port = ports.get(get.get("port"), get.get("port"))
                    f.check(health and str(port) == health.rsplit(":", 1)[-1],
                            f"{cw}: {probe} port {get.get('port')!r} is not the --health-addr port ({health})")
        if owner.get("kind") == "Job":
            jspec = owner.get("spec") or {}
            for key in ("backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"):
                f.check(isinstance(jspec.get(key), int), f"{where}: spec.{key} must be set")
            f.check((template.get("spec") or {}).get("restartPolicy") in ("Never", "OnFailure"),
                    f"{where}: restartPolicy must be Never or OnFailure")


def ingress_ports(netpol):
    """(protocol, port) of every ingress port of a NetworkPolicy."""
    out = []
    for rule in (netpol.get("spec") or {}).get("ingress") or []:
        for port in rule.get("ports") or []:
            out.append((port.get("protocol", "TCP"), port.get("port")))
    return out


def health_port(container) -> str | None:
    """The port of the container's --health-addr (probes and /metrics), as text."""
    args = [str(a) for a in (container.get("args") or [])]
    addr = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--health-addr"), None)
    return addr.rsplit(":", 1)[-1] if addr else None


def check_monitoring(state: State, f: Findings) -> None:
    """The http port is named and reachable; the monitoring component's PodMonitor scrapes it."""
    deployments = of_kind(state.base, "Deployment")
    containers = [c for d in deployments for c in (d["spec"]["template"]["spec"].get("containers") or [])]
    named = {}
    for c in containers:
        for p in c.get("ports") or []:
            f.check(p.get("name"), f"Deployment container {c.get('name')}: container port {p.get('containerPort')} has no name (probes and the PodMonitor refer to it by name)")
            named[p.get("name")] = p.get("containerPort")
    ports = {health_port(c) for c in containers} - {None}
    for netpol in of_kind(state.base, "NetworkPolicy"):
        allowed = {str(p) for _, p in ingress_ports(netpol)}
        for port in ports:
            f.check(port in allowed,
                    f"{name_of(netpol)}: does not allow ingress to TCP {port}, the --health-addr port: the probes and the metrics scrape would be refused")
    if state.monitoring is None:
        return
    monitors = of_kind(state.monitoring, "PodMonitor")
    f.check(len(monitors) == 1, "monitoring component: the build must hold exactly one PodMonitor")
    labels = {}
    for d in deployments:
        labels.update(((d["spec"]["template"].get("metadata") or {}).get("labels") or {}))
    for pm in monitors:
        where = f"monitoring component: {name_of(pm)}"
        f.check(pm.get("apiVersion") == "azmonitoring.coreos.com/v1",
                f"{where}: apiVersion {pm.get('apiVersion')!r}; Azure Monitor's add-on reads only azmonitoring.coreos.com/v1")
        if state.rendered:
            f.check((pm.get("metadata") or {}).get("namespace") == "customers", f"{where}: not in the pods' namespace")
        spec = pm.get("spec") or {}
        for limit in ("labelLimit", "labelNameLengthLimit", "labelValueLengthLimit"):
            f.check(isinstance(spec.get(limit), int), f"{where}: spec.{limit} missing (Microsoft: series are dropped without it)")
        match = (spec.get("selector") or {}).get("matchLabels") or {}
        f.check(match and all(labels.get(k) == v for k, v in match.items()),
                f"{where}: selector {match} selects no pod of the Deployment")
        endpoints = spec.get("podMetricsEndpoints") or []
        f.check(endpoints, f"{where}: no podMetricsEndpoints")
        for e in endpoints:
            f.check(e.get("path") == "/metrics", f"{where}: must scrape /metrics, not {e.get('path')!r}")
            f.check(e.get("port") in named and str(named.get(e.get("port"))) in ports,
                    f"{where}: port {e.get('port')!r} is not the container's named --health-addr port {sorted(named)}")
    others = [d for d in state.monitoring if d.get("kind") != "PodMonitor"]
    f.check(others == state.base, "monitoring component: changes more than adding the PodMonitor")


def egress_ports(netpol):
    """(protocol, port, endPort) of every egress port of a NetworkPolicy."""
    out = []
    for rule in (netpol.get("spec") or {}).get("egress") or []:
        for port in rule.get("ports") or []:
            out.append((port.get("protocol", "TCP"), port.get("port"), port.get("endPort")))
    return out


def check_manifests(state: State, f: Findings) -> None:
    base, job, rendered = state.base, state.job, state.rendered
    kinds = [d.get("kind") for d in base]
    for kind in ("Namespace", "ServiceAccount", "Deployment", "NetworkPolicy"):
        f.check(kind in kinds, f"k8s/: no {kind} in the manifests")
    if rendered:
        f.check("ConfigMap" in kinds, "k8s/: no ConfigMap in the rendered manifests (configMapGenerator customers-sql)")
    # A Job's pod template is immutable: in k8s/, any later change of image or settings would make
    # `kubectl apply -k k8s/` fail until the Job was deleted.
    f.check("Job" not in kinds, "k8s/: has a Job; the one-shot check belongs in k8s/job/, applied on purpose")
    f.check(len(of_kind(job, "Job")) == 1, "k8s/job/: must hold exactly one Job")
    for doc in job:
        f.check(doc.get("kind") in ("Job", "ConfigMap"),
                f"k8s/job/: {name_of(doc)}; it must add the Job (and its settings' ConfigMap) only, or applying it would change what k8s/ applies")

    every = base + job + (state.proxy or [])
    # No Secret, and nothing that reads one.
    for doc in every:
        f.check(doc.get("kind") != "Secret", f"{name_of(doc)}: a Secret; this deployment must carry none")
        for path, key, value in walk(doc):
            if key in ("secretKeyRef", "secretRef") or (key == "secret" and isinstance(value, dict)):
                f.check(False, f"{name_of(doc)}: {path}.{key} reads a Secret; pass configuration through the ConfigMap")
            if key == "imagePullSecrets" and value:
                f.check(False, f"{name_of(doc)}: imagePullSecrets; let the cluster's identity pull (az aks update --attach-acr)")

    namespaces = of_kind(base, "Namespace")
    ns_name = (namespaces[0].get("metadata") or {}).get("name") if namespaces else None
    for ns in namespaces:
        labels = (ns.get("metadata") or {}).get("labels") or {}
        f.check(labels.get("pod-security.kubernetes.io/enforce") == "restricted",
                f"{name_of(ns)}: label pod-security.kubernetes.io/enforce must be 'restricted'")
    if rendered:
        for doc in base + job:
            if doc.get("kind") != "Namespace":
                f.check((doc.get("metadata") or {}).get("namespace") == ns_name,
                        f"{name_of(doc)}: not in namespace {ns_name}")

    accounts = {(d.get("metadata") or {}).get("name"): d for d in of_kind(base, "ServiceAccount")}
    for sa in accounts.values():
        annotations = (sa.get("metadata") or {}).get("annotations") or {}
        f.check(str(annotations.get(WI_CLIENT_ID, "")).strip(),
                f"{name_of(sa)}: annotation {WI_CLIENT_ID} missing or empty")
        f.check(sa.get("automountServiceAccountToken") is False,
                f"{name_of(sa)}: automountServiceAccountToken must be false")
        if rendered:
            f.check(annotations.get(WI_CLIENT_ID) != "set-by-kustomization",
                    f"{name_of(sa)}: the client id was not filled in from k8s/settings/ (replacements)")
    if rendered:
        f.check(not any((d.get("metadata") or {}).get("name") == "workload-identity" for d in of_kind(base + job, "ConfigMap")),
                "ConfigMap/workload-identity is build-time only (local-config) but reached the output")

    config_maps = {(d.get("metadata") or {}).get("name"): d for d in of_kind(base, "ConfigMap")}
    check_pods(base, accounts, config_maps, f, rendered)
    job_maps = {(d.get("metadata") or {}).get("name"): d for d in of_kind(job, "ConfigMap")}
    check_pods(job, accounts, job_maps if rendered else config_maps, f, rendered)

    # The Job checks what the Deployment runs: the same image and the very ConfigMap k8s/ applies.
    deployments, jobs = of_kind(base, "Deployment"), of_kind(job, "Job")
    if rendered and deployments and jobs:
        images = {c.get("image") for c in containers_of(deployments[0])}
        for c in containers_of(jobs[0]):
            f.check(c.get("image") in images,
                    f"k8s/job/: the Job's image {c.get('image')!r} is not the Deployment's {sorted(images)} (set both in k8s/settings/)")
            for e in c.get("envFrom") or []:
                ref = (e.get("configMapRef") or {}).get("name")
                f.check(ref in config_maps and job_maps.get(ref, {}).get("data") == config_maps[ref].get("data"),
                        f"k8s/job/: the Job reads ConfigMap {ref!r}, which is not the one k8s/ applies")

    # The network: Redirect needs 1433 and the 11000-11999 range; the proxy component keeps 1433
    # and drops the range, and changes nothing else.
    for netpol in of_kind(base, "NetworkPolicy"):
        ports = egress_ports(netpol)
        f.check(("TCP", 1433, None) in ports, f"{name_of(netpol)}: no egress to TCP 1433 (the Azure SQL gateway)")
        f.check(("TCP", 443, None) in ports, f"{name_of(netpol)}: no egress to TCP 443 (Microsoft Entra ID)")
        f.check(("TCP", 11000, 11999) in ports,
                f"{name_of(netpol)}: no egress to TCP 11000-11999 (port 11000, endPort 11999): Redirect logins would time out")
    if state.proxy is not None:
        proxy_policies = of_kind(state.proxy, "NetworkPolicy")
        f.check(proxy_policies, "proxy component: the build has no NetworkPolicy")
        for netpol in proxy_policies:
            ports = egress_ports(netpol)
            f.check(("TCP", 1433, None) in ports, f"proxy component: {name_of(netpol)} lost TCP 1433")
            f.check(not any(p[2] for p in ports) and not any(p[1] == 11000 for p in ports),
                    f"proxy component: {name_of(netpol)} still allows the Redirect range 11000-11999")
        others = [d for d in state.proxy if d.get("kind") != "NetworkPolicy"]
        f.check(others == [d for d in base if d.get("kind") != "NetworkPolicy"],
                "proxy component: changes more than the NetworkPolicy")


def from_images(dockerfile: str):
    """The images the Dockerfile's FROM lines name (stage names excluded)."""
    stages, images = set(), []
    for line in dockerfile.splitlines():
        m = re.match(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            if m.group(1) not in stages:
                images.append(m.group(1))
            if m.group(2):
                stages.add(m.group(2))
    return images


def check_files(state: State, f: Findings) -> None:
    """Cross-file rules: one place for fill-ins, subject and user consistency, pinned images."""
    files = state.files
    for path, text in files.items():
        if path.startswith("k8s/") and path.endswith(".yaml") and path != SETTINGS:
            f.check("REPLACE-ME" not in text, f"{path}: has a REPLACE-ME; fill-ins belong in {SETTINGS}")
    settings = files.get(SETTINGS, "")
    f.check("REPLACE-ME" in settings, f"{SETTINGS}: the committed template should mark its fill-ins with REPLACE-ME")
    for image in (yaml.safe_load(settings) or {}).get("images") or []:
        f.check(image.get("digest") or (image.get("newTag") and str(image.get("newTag")) != "latest"),
                f"{SETTINGS}: image {image.get('name')!r} needs a unique newTag or a digest, never latest")

    setup = files["k8s/setup-azure.sh"]
    defaults = dict(re.findall(r'^(NAMESPACE|SERVICE_ACCOUNT)="\$\{\1:-([^}]*)\}"', setup, re.M))
    ns = next(((d.get("metadata") or {}).get("name") for d in of_kind(state.base, "Namespace")), None)
    sas = {(d.get("metadata") or {}).get("name") for d in of_kind(state.base, "ServiceAccount")}
    f.check(defaults.get("NAMESPACE") == ns,
            f"setup-azure.sh NAMESPACE default {defaults.get('NAMESPACE')!r} != the manifests' namespace {ns!r}: the federated subject would not match")
    f.check(defaults.get("SERVICE_ACCOUNT") in sas,
            f"setup-azure.sh SERVICE_ACCOUNT default {defaults.get('SERVICE_ACCOUNT')!r} is not the manifests' service account {sorted(sas)}")

    dockerfile = files["Dockerfile"]
    user = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)
    f.check(user and user[-1] != "0", "Dockerfile: the final stage must set a numeric non-root USER")
    # No stand-in (no `sandbox`), and GET /metrics (`metrics`), which the PodMonitor scrapes.
    build = "cargo build --release --locked -p customers --no-default-features --features metrics"
    f.check(build in dockerfile, f"Dockerfile: must build `{build}`")
    for line in re.findall(r"^(?!\s*#).*?(cargo build[^\n\\]*)", dockerfile, re.M):
        f.check(line.strip() == build, f"Dockerfile: `{line.strip()}`; every build there must build `{build}`")
    images = from_images(dockerfile)
    f.check(images, "Dockerfile: no FROM")
    for image in images:
        f.check(DIGEST.search(image) and ":" in image.split("@")[0],
                f"Dockerfile: FROM {image} is not pinned as image:tag@sha256:<64 hex digits>")
    # The dependency layer: in the stage that builds for real, a cargo build on the skeleton comes
    # before the sources are copied in, so editing a source does not rebuild every dependency.
    last_stage = dockerfile[dockerfile.rfind("AS build"):] if "AS build" in dockerfile else ""
    first_build = last_stage.find(build)
    f.check(0 <= first_build < last_stage.find("COPY . ."),
            "Dockerfile: the build stage must build the dependencies (cargo build on the skeleton) before `COPY . .`")
    for _, template in pod_templates(state.base + state.job):
        uid = ((template.get("spec") or {}).get("securityContext") or {}).get("runAsUser")
        f.check(uid is None or (user and str(uid) == user[-1]), f"pods runAsUser {uid} != the image's USER {user[-1:]}")

    compose = yaml.safe_load(files["compose.yaml"])
    for sname, service in (compose.get("services") or {}).items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict((str(e).split("=", 1) + [""])[:2] for e in env)
        for key, value in env.items():
            if re.search(r"PASSWORD", str(key)):
                f.check(re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)),
                        f"compose.yaml {sname}: {key} must come from the environment as ${{VAR:?message}}, never a literal")
        for volume in service.get("volumes") or []:
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                f.check((ROOT / source).exists(), f"compose.yaml {sname}: mounts {source}, which does not exist")
        if "image" in service:
            f.check(SQLSERVER_CU.match(str(service["image"])),
                    f"compose.yaml {sname}: image {service['image']} is not a SQL Server 2022 CU tag (2022-CU<n>-ubuntu-<version>); a moving tag changes the engine under the tests")
    compose_images = {s.get("image") for s in (compose.get("services") or {}).values() if s.get("image")}
    f.check(len(compose_images) == 1, f"compose.yaml: the server and its init use different images {sorted(map(str, compose_images))}")


def load(paths):
    docs = []
    for p in paths:
        docs += [d for d in yaml.safe_load_all(Path(p).read_text()) if isinstance(d, dict) and "kind" in d
                 and d["kind"] not in ("Kustomization", "Component")]
    return docs


def load_files() -> dict[str, str]:
    files = {name: (ROOT / name).read_text() for name in FILES}
    for path in sorted((ROOT / "k8s").rglob("*.yaml")):
        files[path.relative_to(ROOT).as_posix()] = path.read_text()
    return files


def run(state: State) -> list[str]:
    f = Findings()
    check_manifests(state, f)
    check_monitoring(state, f)
    check_files(state, f)
    return f.errors


def self_test(state: State) -> list[str]:
    """Each mutation breaks one rule; each must be reported by that rule (its message)."""

    def deployment(s):
        return of_kind(s.base, "Deployment")[0]

    def container(s, kind="Deployment"):
        docs = s.job if kind == "Job" else s.base
        return of_kind(docs, kind)[0]["spec"]["template"]["spec"]["containers"][0]

    def netpol_ports(docs):
        return of_kind(docs, "NetworkPolicy")[0]["spec"]["egress"][1]["ports"]

    def edit(path, old, new):
        def mutate(s):
            assert old in s.files[path], f"self-test: {old!r} not in {path}"
            s.files[path] = s.files[path].replace(old, new, 1)
        return mutate

    first_digest = re.search(r"@sha256:[0-9a-f]{64}", state.files["Dockerfile"]).group(0)
    compose_image = yaml.safe_load(state.files["compose.yaml"])["services"]["sqlserver"]["image"]
    mutations = {
        "a Secret": (lambda s: s.base.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "customers"}}), 'a Secret;'),
        "readOnlyRootFilesystem off": (lambda s: container(s)["securityContext"].update(readOnlyRootFilesystem=False), 'readOnlyRootFilesystem'),
        "privilege escalation": (lambda s: container(s, "Job")["securityContext"].pop("allowPrivilegeEscalation"), 'allowPrivilegeEscalation'),
        "capabilities kept": (lambda s: container(s)["securityContext"]["capabilities"].update(drop=[]), 'capabilities.drop'),
        "runs as root": (lambda s: deployment(s)["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False), 'runAsNonRoot'),
        "no seccomp": (lambda s: deployment(s)["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"), 'seccompProfile'),
        "API token mounted": (lambda s: deployment(s)["spec"]["template"]["spec"].update(automountServiceAccountToken=True), 'automountServiceAccountToken'),
        "webhook label missing": (lambda s: deployment(s)["spec"]["template"]["metadata"]["labels"].pop(WI_LABEL), 'pod label'),
        "client-id missing": (lambda s: of_kind(s.base, "ServiceAccount")[0]["metadata"]["annotations"].pop(WI_CLIENT_ID), 'missing or empty'),
        "no memory limit": (lambda s: container(s)["resources"]["limits"].pop("memory"), 'resources.limits.memory'),
        "readiness probe path": (lambda s: container(s)["readinessProbe"]["httpGet"].update(path="/"), 'readinessProbe must GET'),
        "probe port mismatch": (lambda s: container(s)["livenessProbe"]["httpGet"].update(port=9999), 'is not the --health-addr port'),
        "secret env": (lambda s: container(s).setdefault("env", []).append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}), 'reads a Secret'),
        "job unbounded": (lambda s: of_kind(s.job, "Job")[0]["spec"].pop("activeDeadlineSeconds"), 'activeDeadlineSeconds'),
        "namespace not restricted": (lambda s: of_kind(s.base, "Namespace")[0]["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"), 'pod-security.kubernetes.io/enforce'),
        "client id not filled": (lambda s: of_kind(s.base, "ServiceAccount")[0]["metadata"]["annotations"].update({WI_CLIENT_ID: "set-by-kustomization"}), 'was not filled in'),
        "subject mismatch": (lambda s: of_kind(s.base, "ServiceAccount")[0]["metadata"].update(name="other"), 'SERVICE_ACCOUNT default'),
        # Issue 14's rules.
        "the Job back in k8s/": (lambda s: s.base.append(copy.deepcopy(of_kind(s.job, "Job")[0])), 'the one-shot check belongs in k8s/job/'),
        "k8s/job/ applies more than the Job": (lambda s: s.job.append(copy.deepcopy(of_kind(s.base, "NetworkPolicy")[0])), 'it must add the Job'),
        "the Job's image not the Deployment's": (lambda s: container(s, "Job").update(image="customers:0.1.0"), "is not the Deployment's"),
        "the Job's ConfigMap not k8s/'s": (lambda s: of_kind(s.job, "ConfigMap")[0]["data"].update(AZURE_SQL_DATABASE="other"), 'which is not the one k8s/ applies'),
        "RUST_LOG=info": (lambda s: container(s).setdefault("env", []).append({"name": "RUST_LOG", "value": "info"}), 'sets RUST_LOG'),
        "no Linux nodeSelector": (lambda s: of_kind(s.job, "Job")[0]["spec"]["template"]["spec"].pop("nodeSelector"), 'nodeSelector kubernetes.io/os'),
        "Redirect range lost": (lambda s: netpol_ports(s.base)[2].pop("endPort"), 'Redirect logins would time out'),
        "proxy component keeps the range": (lambda s: setattr(s, "proxy", copy.deepcopy(s.base)), 'still allows the Redirect range'),
        "proxy component drops 1433": (lambda s: netpol_ports(s.proxy).pop(1), 'lost TCP 1433'),
        "base image by tag only": (edit("Dockerfile", first_digest, ""), 'is not pinned'),
        "placeholder digest": (edit("Dockerfile", first_digest, "@sha256:<digest>"), 'is not pinned'),
        "no dependency layer": (edit("Dockerfile", "RUN cargo build --release --locked -p customers --no-default-features --features metrics\n", ""), 'before `COPY . .`'),
        # Issue 12's rules: the metrics reach Azure Monitor managed Prometheus.
        "image without /metrics": (edit("Dockerfile", " --features metrics \\\n", " \\\n"), 'must build'),
        "unnamed container port": (lambda s: container(s)["ports"][0].pop("name"), 'has no name'),
        "ingress misses the scrape": (lambda s: of_kind(s.base, "NetworkPolicy")[0]["spec"]["ingress"][0]["ports"][0].update(port=9090), 'does not allow ingress'),
        "PodMonitor in the open-source group": (lambda s: of_kind(s.monitoring, "PodMonitor")[0].update(apiVersion="monitoring.coreos.com/v1"), 'reads only azmonitoring.coreos.com/v1'),
        "PodMonitor without label limits": (lambda s: of_kind(s.monitoring, "PodMonitor")[0]["spec"].pop("labelLimit"), 'spec.labelLimit missing'),
        "PodMonitor selects the Job": (lambda s: of_kind(s.monitoring, "PodMonitor")[0]["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/component": "once"}), 'selects no pod'),
        "PodMonitor on another port": (lambda s: of_kind(s.monitoring, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0].update(port="health"), "is not the container's named"),
        "PodMonitor path": (lambda s: of_kind(s.monitoring, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0].update(path="/"), 'must scrape /metrics'),
        "monitoring component changes more": (lambda s: s.monitoring.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}), 'changes more than adding'),
        "compose on 2022-latest": (edit("compose.yaml", compose_image, "mcr.microsoft.com/mssql/server:2022-latest"), 'is not a SQL Server 2022 CU tag'),
        "REPLACE-ME outside k8s/settings/": (edit("k8s/deployment.yaml", "image: customers", "image: REPLACE-ME"), 'fill-ins belong in'),
        "image tag latest": (edit(SETTINGS, "newTag: REPLACE-ME-unique-tag", "newTag: latest"), 'never latest'),
    }
    failures = []
    baseline = run(state)
    if baseline:
        return ["the unmodified manifests do not pass: " + "; ".join(baseline)]
    for label, (mutate, expected) in mutations.items():
        broken = copy.deepcopy(state)
        mutate(broken)
        errors = run(broken)
        if not any(expected in e for e in errors):
            failures.append(f"self-test: breaking '{label}' was not caught by its rule ('{expected}'); got {errors}")
    print(f"deploy_policy self-test: {len(mutations) - len(failures)} of {len(mutations)} broken variants caught")
    return failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--raw", action="store_true", help="unrendered k8s/*.yaml files (no kubectl)")
    mode.add_argument("--self-test", action="store_true", help="prove each rule catches a broken copy")
    parser.add_argument("base", nargs="+", help="k8s/ rendered (or its files with --raw)")
    parser.add_argument("--job", nargs="+", required=True, help="k8s/job/ rendered (or k8s/job/job.yaml with --raw)")
    parser.add_argument("--proxy", help="k8s/ rendered with the proxy-connection-policy component")
    parser.add_argument("--monitoring", help="k8s/ rendered with the azure-monitor-prometheus component")
    args = parser.parse_args(argv)
    if not args.raw and (len(args.base) != 1 or not args.proxy or not args.monitoring):
        parser.error("rendered mode takes one BASE.yaml, --job JOB.yaml, --proxy PROXY.yaml and --monitoring MONITORING.yaml")
    state = State(base=load(args.base), job=load(args.job), proxy=load([args.proxy]) if args.proxy else None,
                  rendered=not args.raw, files=load_files(),
                  monitoring=load([args.monitoring]) if args.monitoring else None)
    errors = self_test(state) if args.self_test else run(state)
    for e in errors:
        print(f"deploy policy: {e}", file=sys.stderr)
    if not errors and not args.self_test:
        print("deploy policy: all rules hold")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
