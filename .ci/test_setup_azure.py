#!/usr/bin/env python3
"""Tests k8s/setup-azure.sh against a stateful stand-in for the Azure CLI.

Real Azure cannot be reached from CI, so a small fake `az` on PATH keeps the resources the script
touches (cluster flags, managed identity, federated credential, SQL server admin) in a JSON file and
logs every call. The tests check what the walkthrough promises: the first run enables the cluster
features and creates the identity and the federated credential with the right issuer, subject and
audience; a second run changes nothing; a changed service account updates the credential; missing
settings and a logged-out CLI stop the script with a message that says what to do; the printed grant
names the identity. The fake refuses any command it does not know, so a script change that calls
something new fails here until the fake learns it.

Run: python3 .ci/test_setup_azure.py   (prints "N passed, 0 failed")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from script_tests import run_tests

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "k8s" / "setup-azure.sh"
ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant-guid/cluster-guid/"
EGRESS_ID = "/subscriptions/s/resourceGroups/MC_rg1_aks1_eastus/providers/Microsoft.Network/publicIPAddresses/egress-1"

FAKE_AZ = textwrap.dedent(
    r'''
    #!/usr/bin/env python3
    import json, os, sys
    state_path = os.environ["FAKE_AZ_STATE"]
    state = json.load(open(state_path))
    args = sys.argv[1:]
    with open(os.environ["FAKE_AZ_LOG"], "a") as log:
        log.write(" ".join(args) + "\n")

    def opt(name, default=None):
        return args[args.index(name) + 1] if name in args else default

    def save():
        json.dump(state, open(state_path, "w"))

    def out(value):
        if value is None:
            return
        if "--output" in args and opt("--output") == "none":
            return
        print(value)

    def not_found(what):
        print(f"ERROR: (ResourceNotFound) {what} was not found.", file=sys.stderr)
        sys.exit(3)

    cmd = [a for a in args if not a.startswith("-")][:4]
    query = opt("--query")

    if args[:2] == ["account", "show"]:
        if not state["logged_in"]:
            print("ERROR: Please run 'az login' to setup account.", file=sys.stderr); sys.exit(1)
        out("My Subscription" if query == "name" else "{}")
    elif args[:2] == ["account", "set"]:
        pass
    elif args[:2] == ["aks", "show"]:
        c = state["cluster"]
        if opt("--resource-group") != c["rg"] or opt("--name") != c["name"]:
            not_found("Microsoft.ContainerService/managedClusters")
        out({None: "{}", "oidcIssuerProfile.enabled": str(c["oidc"]).lower(),
             "securityProfile.workloadIdentity.enabled": str(c["wi"]).lower(),
             "oidcIssuerProfile.issuerUrl": c["issuer"] if c["oidc"] else "",
             "location": "eastus",
             "networkProfile.outboundType": c["outbound_type"],
             "networkProfile.loadBalancerProfile.effectiveOutboundIPs[].id":
                 "\n".join(c["egress"]) if c["outbound_type"] == "loadBalancer" else ""}[query])
    elif args[:3] == ["network", "public-ip", "show"]:
        ip = state["public_ips"].get(opt("--ids"))
        if ip is None:
            not_found("Microsoft.Network/publicIPAddresses")
        assert query == "ipAddress", query
        out(ip)
    elif args[:4] == ["sql", "server", "firewall-rule", "list"]:
        assert opt("--server") == state["sql"]["name"], args
        assert query == "[].[name, startIpAddress, endIpAddress]", query
        out("\n".join("\t".join(r) for r in state["sql"]["firewall"]))
    elif args[:2] == ["aks", "update"]:
        assert "--enable-oidc-issuer" in args and "--enable-workload-identity" in args, args
        state["cluster"].update(oidc=True, wi=True, issuer=os.environ["FAKE_ISSUER"]); save()
    elif args[:2] == ["identity", "show"]:
        ident = state["identities"].get(opt("--name"))
        if ident is None:
            not_found("Microsoft.ManagedIdentity/userAssignedIdentities")
        out(ident.get(query, "{}") if query else "{}")
    elif args[:2] == ["identity", "create"]:
        n = len(state["identities"]) + 1
        state["identities"][opt("--name")] = {
            "clientId": f"0000000{n}-aaaa-bbbb-cccc-000000000001", "principalId": f"0000000{n}-pppp",
            "tenantId": "tenant-guid", "fics": {}}; save()
    elif args[:3] in (["identity", "federated-credential", "show"], ["identity", "federated-credential", "create"],
                      ["identity", "federated-credential", "update"]):
        ident = state["identities"].get(opt("--identity-name"))
        if ident is None:
            not_found("identity")
        name = opt("--name")
        if args[2] == "show":
            fic = ident["fics"].get(name)
            if fic is None:
                not_found("federated identity credential")
            assert query == "join('|', [issuer, subject, join(',', audiences)])", query
            out("|".join([fic["issuer"], fic["subject"], ",".join(fic["audiences"])]))
        else:
            if args[2] == "update" and name not in ident["fics"]:
                not_found("federated identity credential")
            ident["fics"][name] = {"issuer": opt("--issuer"), "subject": opt("--subject"), "audiences": [opt("--audiences")]}
            save()
    elif args[:3] == ["sql", "server", "show"]:
        if opt("--name") != state["sql"]["name"]:
            not_found("Microsoft.Sql/servers")
        out(state["sql"]["name"] + ".database.windows.net")
    elif args[:4] == ["sql", "server", "ad-admin", "list"]:
        out(state["sql"]["admin"])
    else:
        print(f"fake az: unknown command {args}", file=sys.stderr); sys.exit(99)
    '''
).lstrip()


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "az").write_text(FAKE_AZ)
        (bin_dir / "az").chmod(0o755)
        self.state = tmp / "state.json"
        self.log = tmp / "az.log"
        self.write_state({
            "logged_in": True,
            "cluster": {"rg": "rg1", "name": "aks1", "oidc": False, "wi": False, "issuer": "",
                        "outbound_type": "loadBalancer", "egress": [EGRESS_ID]},
            "public_ips": {EGRESS_ID: "20.1.2.3"},
            "identities": {},
            "sql": {"name": "sql1", "admin": "dba@contoso.com", "firewall": []},
        })
        self.path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"

    def write_state(self, state) -> None:
        self.state.write_text(json.dumps(state))

    def read_state(self):
        return json.loads(self.state.read_text())

    def change_state(self, change) -> None:
        """Applies `change` (a function that edits the state in place) to the stand-in's state."""
        state = self.read_state()
        change(state)
        self.write_state(state)

    def run(self, **overrides):
        env = {k: v for k, v in os.environ.items() if k not in (
            "SUBSCRIPTION", "RESOURCE_GROUP", "CLUSTER_NAME", "IDENTITY_NAME", "NAMESPACE", "SERVICE_ACCOUNT",
            "SQL_SERVER_NAME", "SQL_DATABASE", "LOCATION", "IDENTITY_RESOURCE_GROUP", "SQL_RESOURCE_GROUP",
            "FEDERATED_CREDENTIAL_NAME")}
        env.update(PATH=self.path, FAKE_AZ_STATE=str(self.state), FAKE_AZ_LOG=str(self.log), FAKE_ISSUER=ISSUER,
                   RESOURCE_GROUP="rg1", CLUSTER_NAME="aks1", SQL_SERVER_NAME="sql1", SQL_DATABASE="customers")
        env.update({k: v for k, v in overrides.items() if v is not None})
        for k in [k for k, v in overrides.items() if v is None]:
            env.pop(k, None)
        self.log.write_text("")
        p = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        calls = [line for line in self.log.read_text().splitlines() if line]
        return p, calls


def mutating(calls):
    return [c for c in calls if c.split()[:1] != ["account"] and (" create " in f" {c} " or " update " in f" {c} ")]


def test_first_run_creates_everything(env: Env):
    p, calls = env.run()
    assert p.returncode == 0, p.stderr
    assert any(c.startswith("aks update") for c in calls), calls
    state = env.read_state()
    ident = state["identities"]["customers-identity"]
    fic = ident["fics"]["customers-aks"]
    assert fic == {"issuer": ISSUER, "subject": "system:serviceaccount:customers:customers",
                   "audiences": ["api://AzureADTokenExchange"]}, fic
    assert f"CLIENT_ID={ident['clientId']}" in p.stdout, p.stdout
    assert "AZURE_SQL_SERVER=tcp:sql1.database.windows.net,1433" in p.stdout, p.stdout
    assert "k8s/settings/kustomization.yaml" in p.stdout, p.stdout
    # The SQL, in order: table, user by object id (with both ids), then the role.
    order = [p.stdout.find(s) for s in ("-i sql/01_customer_table.sql", "-i sql/azure/01_create_user_by_object_id.sql",
                                        "-i sql/02_grant_read_to_workload_identity.sql")]
    assert -1 not in order and order == sorted(order), (order, p.stdout)
    assert f"-v IDENTITY_NAME=customers-identity CLIENT_ID={ident['clientId']} PRINCIPAL_ID={ident['principalId']}" in p.stdout, p.stdout
    assert "sql/azure/02_grant_select_on_customer_only.sql" in p.stdout, p.stdout


def test_printed_paths_and_variables_match_the_repository(env: Env):
    import re
    p, _ = env.run()
    assert p.returncode == 0, p.stderr
    for path in sorted(set(re.findall(r"\b((?:k8s|sql)/[\w./-]+\.(?:sql|yaml))\b", p.stdout))):
        assert (ROOT / path).is_file(), f"setup-azure.sh prints {path}, which does not exist"
    # Each printed sqlcmd command passes exactly the variables its script uses (sqlcmd stops at
    # an undefined one; an extra one means the reader was told the wrong thing).
    commands = [line for line in p.stdout.replace("\\\n", " ").splitlines() if "sqlcmd " in line and " -i sql/" in line]
    assert len(commands) == 4, commands
    for command in commands:
        script = re.search(r" -i (sql/\S+)", command).group(1)
        given = set(re.findall(r"\b([A-Z_]+)=\S", command.split(" -v ", 1)[1])) if " -v " in command else set()
        used = set(re.findall(r"\$\(([A-Z_]+)\)", (ROOT / script).read_text()))
        assert given == used, f"{script}: setup-azure.sh passes {sorted(given)}, the script uses {sorted(used)}"


def test_firewall_rule_for_the_cluster_egress_is_printed_not_created(env: Env):
    p, calls = env.run()
    assert p.returncode == 0, p.stderr
    assert "egress address 20.1.2.3 is NOT allowed" in p.stdout, p.stdout
    assert ("az sql server firewall-rule create --resource-group rg1 --server sql1 --name aks-aks1-egress-0 "
            "--start-ip-address 20.1.2.3 --end-ip-address 20.1.2.3") in p.stdout, p.stdout
    assert not any(c.startswith("sql server firewall-rule create") for c in calls), calls
    env.change_state(lambda s: s["sql"].update(firewall=[["office", "10.0.0.1", "10.0.0.1"], ["aks", "20.1.2.0", "20.1.2.255"]]))
    p, _ = env.run()
    assert "egress address 20.1.2.3 is allowed (rule aks)" in p.stdout, p.stdout
    env.change_state(lambda s: s["sql"].update(firewall=[["AllowAllWindowsAzureIps", "0.0.0.0", "0.0.0.0"]]))
    p, _ = env.run()
    assert "all of Azure" in p.stdout and "is NOT allowed" in p.stdout, p.stdout


def test_firewall_with_a_nat_gateway_says_where_the_address_is(env: Env):
    env.change_state(lambda s: s["cluster"].update(outbound_type="userDefinedRouting"))
    p, calls = env.run()
    assert p.returncode == 0, p.stderr
    assert "outbound type is userDefinedRouting" in p.stdout and "<egress IP>" in p.stdout, p.stdout
    assert not any(c.startswith("network public-ip") for c in calls), calls


def test_second_run_changes_nothing(env: Env):
    assert env.run()[0].returncode == 0
    before = env.read_state()
    p, calls = env.run()
    assert p.returncode == 0, p.stderr
    assert mutating(calls) == [], mutating(calls)
    assert env.read_state() == before
    assert "already enabled" in p.stdout and "exists: skipping create" in p.stdout, p.stdout


def test_changed_service_account_updates_the_credential(env: Env):
    assert env.run()[0].returncode == 0
    p, calls = env.run(SERVICE_ACCOUNT="reporting")
    assert p.returncode == 0, p.stderr
    assert [c.split()[:3] for c in mutating(calls)] == [["identity", "federated-credential", "update"]], calls
    fic = env.read_state()["identities"]["customers-identity"]["fics"]["customers-aks"]
    assert fic["subject"] == "system:serviceaccount:customers:reporting", fic


def test_missing_settings_say_what_to_set(env: Env):
    p, calls = env.run(RESOURCE_GROUP=None)
    assert p.returncode != 0 and "RESOURCE_GROUP is not set" in p.stderr, (p.returncode, p.stderr)
    assert calls == [], calls
    p, _ = env.run(CLUSTER_NAME="")
    assert p.returncode != 0 and "CLUSTER_NAME is not set" in p.stderr, p.stderr
    p, _ = env.run(NAMESPACE="Bad_Name")
    assert p.returncode != 0 and "not a valid Kubernetes namespace" in p.stderr, p.stderr
    p, _ = env.run(SQL_SERVER_NAME="sql1.database.windows.net")
    assert p.returncode != 0 and "give the short name" in p.stderr, p.stderr


def test_logged_out_cli_says_az_login(env: Env):
    env.change_state(lambda s: s.update(logged_in=False))
    p, calls = env.run()
    assert p.returncode != 0 and "az login" in p.stderr, p.stderr
    assert mutating(calls) == [], calls


def test_unknown_cluster_is_named(env: Env):
    p, calls = env.run(CLUSTER_NAME="nope")
    assert p.returncode != 0 and "cluster 'nope' not found" in p.stderr, p.stderr
    assert mutating(calls) == [], calls


def test_sql_server_without_entra_admin_is_flagged(env: Env):
    env.change_state(lambda s: s["sql"].update(admin=""))
    p, _ = env.run()
    assert p.returncode == 0, p.stderr
    assert "no Microsoft Entra admin" in p.stdout and "az sql server ad-admin create" in p.stdout, p.stdout


if __name__ == "__main__":
    sys.exit(run_tests(globals(), "setup-azure.sh", Env))
