#!/usr/bin/env python3
"""Policy checks for the deployment files: what schema validation cannot see.

Run by .ci/validate-deploy on the output of `kubectl kustomize k8s/`:

    deploy_policy.py RENDERED.yaml            check the rendered manifests and the files around them
    deploy_policy.py --raw k8s/*.yaml         same, on the unrendered files (no kubectl available)
    deploy_policy.py --self-test RENDERED.yaml  break each rule on a copy and prove it is caught

Rules: no Secret anywhere; every pod runs as the workload identity (pod label, service account with
a client-id annotation, no API token) and is hardened (non-root, read-only root filesystem, no
privilege escalation, ALL capabilities dropped, seccomp RuntimeDefault, requests and limits); the
Deployment watches and has meaningful probes; the Job is bounded; the namespace enforces the
restricted Pod Security profile; fill-in values live only in k8s/kustomization.yaml; the
federated credential's subject in setup-azure.sh matches the manifests; the image's user matches
the pods'; compose.yaml carries no password.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WI_LABEL = "azure.workload.identity/use"
WI_CLIENT_ID = "azure.workload.identity/client-id"


class Findings:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def check(self, ok: object, message: str) -> None:
        if not ok:
            self.errors.append(message)


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


def pod_templates(docs):
    for doc in docs:
        if doc.get("kind") in ("Deployment", "Job"):
            yield doc, ((doc.get("spec") or {}).get("template") or {})


def check_manifests(docs, f: Findings, rendered: bool) -> None:
    kinds = [d.get("kind") for d in docs]
    for kind in ("Namespace", "ServiceAccount", "Deployment", "Job"):
        f.check(kind in kinds, f"no {kind} in the manifests")
    if rendered:
        f.check("ConfigMap" in kinds, "no ConfigMap in the rendered manifests (configMapGenerator customers-sql)")

    # No Secret, and nothing that reads one.
    for doc in docs:
        f.check(doc.get("kind") != "Secret", f"{name_of(doc)}: a Secret; this deployment must carry none")
        for path, key, value in walk(doc):
            if key in ("secretKeyRef", "secretRef") or (key == "secret" and isinstance(value, dict)):
                f.check(False, f"{name_of(doc)}: {path}.{key} reads a Secret; pass configuration through the ConfigMap")
            if key == "imagePullSecrets" and value:
                f.check(False, f"{name_of(doc)}: imagePullSecrets; let the cluster's identity pull (az aks update --attach-acr)")

    namespaces = [d for d in docs if d.get("kind") == "Namespace"]
    ns_name = (namespaces[0].get("metadata") or {}).get("name") if namespaces else None
    for ns in namespaces:
        labels = (ns.get("metadata") or {}).get("labels") or {}
        f.check(labels.get("pod-security.kubernetes.io/enforce") == "restricted",
                f"{name_of(ns)}: label pod-security.kubernetes.io/enforce must be 'restricted'")
    if rendered:
        for doc in docs:
            if doc.get("kind") != "Namespace":
                f.check((doc.get("metadata") or {}).get("namespace") == ns_name,
                        f"{name_of(doc)}: not in namespace {ns_name}")

    accounts = {(d.get("metadata") or {}).get("name"): d for d in docs if d.get("kind") == "ServiceAccount"}
    for sa in accounts.values():
        annotations = (sa.get("metadata") or {}).get("annotations") or {}
        f.check(str(annotations.get(WI_CLIENT_ID, "")).strip(),
                f"{name_of(sa)}: annotation {WI_CLIENT_ID} missing or empty")
        f.check(sa.get("automountServiceAccountToken") is False,
                f"{name_of(sa)}: automountServiceAccountToken must be false")
        if rendered:
            f.check(annotations.get(WI_CLIENT_ID) != "set-by-kustomization",
                    f"{name_of(sa)}: the client id was not filled in from kustomization.yaml (replacements)")
    if rendered:
        f.check(not any(d.get("kind") == "ConfigMap" and (d.get("metadata") or {}).get("name") == "workload-identity" for d in docs),
                "ConfigMap/workload-identity is build-time only (local-config) but reached the output")

    config_maps = {(d.get("metadata") or {}).get("name"): d for d in docs if d.get("kind") == "ConfigMap"}

    for owner, template in pod_templates(docs):
        where = name_of(owner)
        meta = template.get("metadata") or {}
        spec = template.get("spec") or {}
        f.check((meta.get("labels") or {}).get(WI_LABEL) == "true",
                f"{where}: pod label {WI_LABEL}: \"true\" missing (the webhook would inject nothing)")
        sa_name = spec.get("serviceAccountName")
        f.check(sa_name in accounts, f"{where}: serviceAccountName {sa_name!r} is not the workload identity service account")
        f.check(spec.get("automountServiceAccountToken") is False, f"{where}: automountServiceAccountToken must be false")
        psc = spec.get("securityContext") or {}
        f.check(psc.get("runAsNonRoot") is True, f"{where}: securityContext.runAsNonRoot must be true")
        f.check((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
                f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")
        f.check(not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"),
                f"{where}: host namespaces must not be shared")
        containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
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
                f.check(not re.search(r"PASSWORD|SECRET|TOKEN$", str(env.get("name", "")), re.I),
                        f"{cw}: environment variable {env.get('name')} looks like a secret")

        if owner.get("kind") == "Deployment":
            for c in spec.get("containers") or []:
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
            f.check(spec.get("restartPolicy") in ("Never", "OnFailure"), f"{where}: restartPolicy must be Never or OnFailure")


def check_files(docs, f: Findings) -> None:
    """Cross-file rules: one place for fill-ins, subject and user consistency, compose passwords."""
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            f.check("REPLACE-ME" not in path.read_text(), f"k8s/{path.name}: has a REPLACE-ME; fill-ins belong in k8s/kustomization.yaml")
    f.check("REPLACE-ME" in (ROOT / "k8s/kustomization.yaml").read_text(),
            "k8s/kustomization.yaml: the committed template should mark its fill-ins with REPLACE-ME")

    setup = (ROOT / "k8s/setup-azure.sh").read_text()
    defaults = dict(re.findall(r'^(NAMESPACE|SERVICE_ACCOUNT)="\$\{\1:-([^}]*)\}"', setup, re.M))
    ns = next(((d.get("metadata") or {}).get("name") for d in docs if d.get("kind") == "Namespace"), None)
    sas = {(d.get("metadata") or {}).get("name") for d in docs if d.get("kind") == "ServiceAccount"}
    f.check(defaults.get("NAMESPACE") == ns,
            f"setup-azure.sh NAMESPACE default {defaults.get('NAMESPACE')!r} != the manifests' namespace {ns!r}: the federated subject would not match")
    f.check(defaults.get("SERVICE_ACCOUNT") in sas,
            f"setup-azure.sh SERVICE_ACCOUNT default {defaults.get('SERVICE_ACCOUNT')!r} is not the manifests' service account {sorted(sas)}")

    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)
    f.check(user and user[-1] != "0", "Dockerfile: the final stage must set a numeric non-root USER")
    f.check(re.search(r"cargo build --release --locked -p customers --no-default-features", dockerfile),
            "Dockerfile: must build `cargo build --release --locked -p customers --no-default-features`")
    for _, template in pod_templates(docs):
        uid = ((template.get("spec") or {}).get("securityContext") or {}).get("runAsUser")
        f.check(uid is None or (user and str(uid) == user[-1]), f"pods runAsUser {uid} != the image's USER {user[-1:]}")

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
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


def load(paths):
    docs = []
    for p in paths:
        docs += [d for d in yaml.safe_load_all(Path(p).read_text()) if isinstance(d, dict) and "kind" in d and d["kind"] != "Kustomization"]
    return docs


def run(docs, rendered: bool) -> list[str]:
    f = Findings()
    check_manifests(docs, f, rendered)
    check_files(docs, f)
    return f.errors


def self_test(docs) -> list[str]:
    """Each mutation breaks one rule; each must be reported."""

    def deployment(d):
        return next(x for x in d if x.get("kind") == "Deployment")

    def container(d, kind="Deployment"):
        return next(x for x in d if x.get("kind") == kind)["spec"]["template"]["spec"]["containers"][0]

    mutations = {
        "a Secret": lambda d: d.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "customers"}}),
        "readOnlyRootFilesystem off": lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False),
        "privilege escalation": lambda d: container(d, "Job")["securityContext"].pop("allowPrivilegeEscalation"),
        "capabilities kept": lambda d: container(d)["securityContext"]["capabilities"].update(drop=[]),
        "runs as root": lambda d: deployment(d)["spec"]["template"]["spec"]["securityContext"].update(runAsNonRoot=False),
        "no seccomp": lambda d: deployment(d)["spec"]["template"]["spec"]["securityContext"].pop("seccompProfile"),
        "API token mounted": lambda d: deployment(d)["spec"]["template"]["spec"].update(automountServiceAccountToken=True),
        "webhook label missing": lambda d: deployment(d)["spec"]["template"]["metadata"]["labels"].pop(WI_LABEL),
        "client-id missing": lambda d: next(x for x in d if x.get("kind") == "ServiceAccount")["metadata"]["annotations"].pop(WI_CLIENT_ID),
        "no memory limit": lambda d: container(d)["resources"]["limits"].pop("memory"),
        "readiness probe path": lambda d: container(d)["readinessProbe"]["httpGet"].update(path="/"),
        "probe port mismatch": lambda d: container(d)["livenessProbe"]["httpGet"].update(port=9999),
        "secret env": lambda d: container(d).setdefault("env", []).append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}),
        "job unbounded": lambda d: next(x for x in d if x.get("kind") == "Job")["spec"].pop("activeDeadlineSeconds"),
        "namespace not restricted": lambda d: next(x for x in d if x.get("kind") == "Namespace")["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"),
        "client id not filled": lambda d: next(x for x in d if x.get("kind") == "ServiceAccount")["metadata"]["annotations"].update({WI_CLIENT_ID: "set-by-kustomization"}),
        "subject mismatch": lambda d: next(x for x in d if x.get("kind") == "ServiceAccount")["metadata"].update(name="other"),
    }
    failures = []
    baseline = run(docs, rendered=True)
    if baseline:
        return ["the unmodified manifests do not pass: " + "; ".join(baseline)]
    for label, mutate in mutations.items():
        broken = copy.deepcopy(docs)
        mutate(broken)
        if not run(broken, rendered=True):
            failures.append(f"self-test: breaking '{label}' was not caught")
    print(f"deploy_policy self-test: {len(mutations) - len(failures)} of {len(mutations)} broken variants caught")
    return failures


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--self-test":
        errors = self_test(load(argv[1:]))
    elif len(argv) >= 2 and argv[0] == "--raw":
        errors = run(load(argv[1:]), rendered=False)
    elif len(argv) == 1:
        errors = run(load(argv), rendered=True)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errors:
        print(f"deploy policy: {e}", file=sys.stderr)
    if not errors and argv[0] != "--self-test":
        print("deploy policy: all rules hold")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
