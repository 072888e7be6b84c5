#!/usr/bin/env bash
# Prepares Azure for the customers demo on AKS with Microsoft Entra Workload ID, then prints the
# values to fill into k8s/settings/kustomization.yaml, the firewall rules and the SQL to run.
#
#   1. enables the OIDC issuer and workload identity on an existing AKS cluster
#   2. reads the cluster's OIDC issuer URL
#   3. creates the user-assigned managed identity the pods act as
#   4. creates the federated credential that lets Entra accept the pods' service-account token:
#      issuer = the cluster's issuer, subject = system:serviceaccount:<namespace>:<service account>,
#      audience = api://AzureADTokenExchange
#   5. checks the SQL server (if named) has a Microsoft Entra admin, who must run the grant, and
#      whether its firewall lets the cluster's outbound address in (printing the rule to add)
#   6. prints what to put in k8s/settings/ and the exact SQL to run, in order
#
# Idempotent: every step looks first (`az ... show`) and only creates or changes what is missing
# or different, so re-running it is safe and quick. It never creates a secret, and it changes
# nothing on the SQL server: the firewall rules and the SQL it prints are yours to run.
#
# Usage: set the variables below (or export them), log in with `az login`, then
#   RESOURCE_GROUP=my-rg CLUSTER_NAME=my-aks SQL_SERVER_NAME=my-sql SQL_DATABASE=my-db k8s/setup-azure.sh
# Needs: Azure CLI 2.47+ (`az identity federated-credential`), rights to update the cluster and to
# create a managed identity in the resource group.
set -euo pipefail

# ---- Variables: the only values you set ---------------------------------------------------------
SUBSCRIPTION="${SUBSCRIPTION:-}"                 # empty: the az CLI's current subscription
RESOURCE_GROUP="${RESOURCE_GROUP:-}"             # required: the cluster's resource group
CLUSTER_NAME="${CLUSTER_NAME:-}"                 # required: the AKS cluster
IDENTITY_NAME="${IDENTITY_NAME:-customers-identity}"          # user-assigned managed identity
IDENTITY_RESOURCE_GROUP="${IDENTITY_RESOURCE_GROUP:-$RESOURCE_GROUP}"
LOCATION="${LOCATION:-}"                         # empty: the cluster's location
# Must match k8s/namespace.yaml and k8s/serviceaccount.yaml:
NAMESPACE="${NAMESPACE:-customers}"
SERVICE_ACCOUNT="${SERVICE_ACCOUNT:-customers}"
FEDERATED_CREDENTIAL_NAME="${FEDERATED_CREDENTIAL_NAME:-customers-aks}"
# Optional: the logical SQL server (short name, not the FQDN) and database, for the printed values.
SQL_SERVER_NAME="${SQL_SERVER_NAME:-}"
SQL_RESOURCE_GROUP="${SQL_RESOURCE_GROUP:-$RESOURCE_GROUP}"
SQL_DATABASE="${SQL_DATABASE:-}"
# -------------------------------------------------------------------------------------------------

readonly AUDIENCE="api://AzureADTokenExchange"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR

# The sql/ scripts whose commands this prints, in the order they run (README "Deploy to AKS").
readonly TABLE_SCRIPT="sql/01_customer_table.sql"
readonly USER_SCRIPT="sql/azure/01_create_user_by_object_id.sql"
readonly GRANT_SCRIPT="sql/02_grant_read_to_workload_identity.sql"
readonly LEAST_SCRIPT="sql/azure/02_grant_select_on_customer_only.sql"
readonly DROP_SCRIPT="sql/revoke/02_drop_workload_identity_user.sql"

step() { printf '\n== %s\n' "$*"; }
info() { printf '   %s\n' "$*"; }
die() {
  printf 'setup-azure.sh: %s\n' "$*" >&2
  exit 1
}

# The cluster's outbound addresses, one a line. Only for outbound type loadBalancer (the AKS
# default) can they be read from the cluster: networkProfile.loadBalancerProfile.
# effectiveOutboundIPs names public IP resources, as in Microsoft's "Upgrading from Basic Load
# Balancer on AKS" (learn.microsoft.com/azure/aks/upgrade-basic-load-balancer-on-aks); with a NAT
# gateway or user-defined routing through a firewall, the address is theirs.
cluster_egress_ips() {
  local id
  while read -r id; do
    [[ -z "$id" ]] || az network public-ip show --ids "$id" --query ipAddress --output tsv
  done < <(az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" \
    --query "networkProfile.loadBalancerProfile.effectiveOutboundIPs[].id" --output tsv)
}

ip_to_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) + (b << 16) + (c << 8) + d))
}

# Says whether the SQL server's firewall lets the cluster in, and prints the rules to add (it
# never adds one: opening the server is the operator's decision). Without a rule, every login from
# the pods fails with error 40615 naming the refused address.
firewall_check() {
  local rules outbound_type ip ip_int name start end allowed n=0
  local create="az sql server firewall-rule create --resource-group $SQL_RESOURCE_GROUP --server $SQL_SERVER_NAME"
  rules="$(az sql server firewall-rule list --resource-group "$SQL_RESOURCE_GROUP" --server "$SQL_SERVER_NAME" \
    --query "[].[name, startIpAddress, endIpAddress]" --output tsv)"
  if grep -q $'\t0\.0\.0\.0\t0\.0\.0\.0$' <<<"$rules"; then
    info "Firewall: the server accepts connections from all of Azure (a 0.0.0.0 rule), the cluster included,"
    info "  and any other Azure customer's; a rule for the cluster's own address is narrower."
  fi
  outbound_type="$(az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" \
    --query networkProfile.outboundType --output tsv)"
  if [[ "$outbound_type" != "loadBalancer" ]]; then
    info "Firewall: the cluster's outbound type is ${outbound_type:-unknown}: its egress address is your NAT"
    info "  gateway's or firewall's public IP, not readable here. Allow it (or use a private endpoint):"
    info "  $create --name aks-${CLUSTER_NAME}-egress --start-ip-address <egress IP> --end-ip-address <egress IP>"
  else
    while read -r ip; do
      [[ -n "$ip" ]] || continue
      ip_int="$(ip_to_int "$ip")"
      allowed=""
      while IFS=$'\t' read -r name start end; do
        [[ -n "$name" && "$start" != "0.0.0.0" ]] || continue
        if ((ip_int >= $(ip_to_int "$start") && ip_int <= $(ip_to_int "$end"))); then
          allowed="$name"
          break
        fi
      done <<<"$rules"
      if [[ -n "$allowed" ]]; then
        info "Firewall: the cluster's egress address $ip is allowed (rule $allowed)"
      else
        info "Firewall: the cluster's egress address $ip is NOT allowed; add:"
        info "  $create --name aks-${CLUSTER_NAME}-egress-${n} --start-ip-address $ip --end-ip-address $ip"
        n=$((n + 1))
      fi
    done < <(cluster_egress_ips)
  fi
  info "Your own address needs a rule too, for sqlcmd (else error 40615, which names the address):"
  info "  $create --name operator-\$USER --start-ip-address <your IP> --end-ip-address <your IP>"
}

# ---- Preconditions ------------------------------------------------------------------------------
command -v az >/dev/null 2>&1 ||
  die "the Azure CLI (az) is not installed: see https://learn.microsoft.com/cli/azure/install-azure-cli"
[[ -n "$RESOURCE_GROUP" ]] || die "RESOURCE_GROUP is not set: export RESOURCE_GROUP=<the cluster's resource group>"
[[ -n "$CLUSTER_NAME" ]] || die "CLUSTER_NAME is not set: export CLUSTER_NAME=<the AKS cluster's name>"
[[ "$NAMESPACE" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] ||
  die "NAMESPACE '$NAMESPACE' is not a valid Kubernetes namespace name"
[[ "$SERVICE_ACCOUNT" =~ ^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$ ]] ||
  die "SERVICE_ACCOUNT '$SERVICE_ACCOUNT' is not a valid Kubernetes service account name"
if [[ -n "$SQL_SERVER_NAME" && "$SQL_SERVER_NAME" == *.* ]]; then
  die "SQL_SERVER_NAME '$SQL_SERVER_NAME' looks like an FQDN: give the short name (before .database.windows.net)"
fi

for f in "$TABLE_SCRIPT" "$USER_SCRIPT" "$GRANT_SCRIPT" "$LEAST_SCRIPT" "$DROP_SCRIPT"; do
  [[ -f "$SCRIPT_DIR/../$f" ]] || die "$f is missing: this script and sql/ disagree"
done

az account show --output none 2>/dev/null || die "the Azure CLI is not logged in: run 'az login'"
if [[ -n "$SUBSCRIPTION" ]]; then
  az account set --subscription "$SUBSCRIPTION"
fi
subscription_name="$(az account show --query name --output tsv)"
info "subscription: ${subscription_name}"

# ---- 1. OIDC issuer and workload identity on the cluster ----------------------------------------
step "AKS cluster $CLUSTER_NAME: OIDC issuer and workload identity"
az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" --output none ||
  die "cluster '$CLUSTER_NAME' not found in resource group '$RESOURCE_GROUP' (check the names and the subscription)"
oidc_enabled="$(az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" \
  --query "oidcIssuerProfile.enabled" --output tsv)"
wi_enabled="$(az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" \
  --query "securityProfile.workloadIdentity.enabled" --output tsv)"
if [[ "$oidc_enabled" == "true" && "$wi_enabled" == "true" ]]; then
  info "already enabled: skipping 'az aks update'"
else
  info "enabling (OIDC issuer: ${oidc_enabled:-false}, workload identity: ${wi_enabled:-false}); this takes a few minutes"
  az aks update --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" \
    --enable-oidc-issuer --enable-workload-identity --output none
fi

# ---- 2. The cluster's OIDC issuer ---------------------------------------------------------------
ISSUER="$(az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" \
  --query "oidcIssuerProfile.issuerUrl" --output tsv)"
[[ "$ISSUER" == https://* ]] || die "the cluster reports no OIDC issuer URL (got '$ISSUER'): check 'az aks show' output"
info "issuer: $ISSUER"
if [[ -z "$LOCATION" ]]; then
  LOCATION="$(az aks show --resource-group "$RESOURCE_GROUP" --name "$CLUSTER_NAME" --query location --output tsv)"
fi

# ---- 3. The user-assigned managed identity ------------------------------------------------------
step "Managed identity $IDENTITY_NAME"
if az identity show --resource-group "$IDENTITY_RESOURCE_GROUP" --name "$IDENTITY_NAME" --output none 2>/dev/null; then
  info "exists: skipping create"
else
  info "creating in $IDENTITY_RESOURCE_GROUP ($LOCATION)"
  az identity create --resource-group "$IDENTITY_RESOURCE_GROUP" --name "$IDENTITY_NAME" \
    --location "$LOCATION" --output none
fi
CLIENT_ID="$(az identity show --resource-group "$IDENTITY_RESOURCE_GROUP" --name "$IDENTITY_NAME" --query clientId --output tsv)"
PRINCIPAL_ID="$(az identity show --resource-group "$IDENTITY_RESOURCE_GROUP" --name "$IDENTITY_NAME" --query principalId --output tsv)"
TENANT_ID="$(az identity show --resource-group "$IDENTITY_RESOURCE_GROUP" --name "$IDENTITY_NAME" --query tenantId --output tsv)"
info "client id: $CLIENT_ID   principal (object) id: $PRINCIPAL_ID   tenant: $TENANT_ID"

# ---- 4. The federated credential ----------------------------------------------------------------
SUBJECT="system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}"
step "Federated credential $FEDERATED_CREDENTIAL_NAME (subject $SUBJECT)"
fc_args=(--resource-group "$IDENTITY_RESOURCE_GROUP" --identity-name "$IDENTITY_NAME" --name "$FEDERATED_CREDENTIAL_NAME")
if current="$(az identity federated-credential show "${fc_args[@]}" \
  --query "join('|', [issuer, subject, join(',', audiences)])" --output tsv 2>/dev/null)"; then
  if [[ "$current" == "${ISSUER}|${SUBJECT}|${AUDIENCE}" ]]; then
    info "exists with the right issuer, subject and audience: skipping"
  else
    info "exists but differs; updating"
    info "  was:    $current"
    info "  wanted: ${ISSUER}|${SUBJECT}|${AUDIENCE}"
    az identity federated-credential update "${fc_args[@]}" \
      --issuer "$ISSUER" --subject "$SUBJECT" --audiences "$AUDIENCE" --output none
  fi
else
  info "creating"
  az identity federated-credential create "${fc_args[@]}" \
    --issuer "$ISSUER" --subject "$SUBJECT" --audiences "$AUDIENCE" --output none
fi
info "Entra may take a minute to accept a new or changed credential (until then: AADSTS70021)"

# ---- 5. The SQL server: its Entra admin (who runs the grant), its firewall ----------------------
SQL_HOST="<server>.database.windows.net"
if [[ -n "$SQL_SERVER_NAME" ]]; then
  step "Azure SQL server $SQL_SERVER_NAME"
  SQL_HOST="$(az sql server show --resource-group "$SQL_RESOURCE_GROUP" --name "$SQL_SERVER_NAME" \
    --query fullyQualifiedDomainName --output tsv)" ||
    die "SQL server '$SQL_SERVER_NAME' not found in resource group '$SQL_RESOURCE_GROUP' (set SQL_RESOURCE_GROUP?)"
  admin="$(az sql server ad-admin list --resource-group "$SQL_RESOURCE_GROUP" --server-name "$SQL_SERVER_NAME" \
    --query "[0].login" --output tsv)"
  if [[ -n "$admin" ]]; then
    info "Microsoft Entra admin: $admin (run the SQL below as this principal or a member of it)"
  else
    info "WARNING: the server has no Microsoft Entra admin, so no one can run CREATE USER ... FROM EXTERNAL PROVIDER."
    info "Set one (for example yourself), then re-run this script:"
    info "  az sql server ad-admin create --resource-group $SQL_RESOURCE_GROUP --server-name $SQL_SERVER_NAME \\"
    info "    --display-name \"\$(az ad signed-in-user show --query userPrincipalName -o tsv)\" \\"
    info "    --object-id \"\$(az ad signed-in-user show --query id -o tsv)\""
  fi
  firewall_check
fi

# ---- 6. What to do next -------------------------------------------------------------------------
database="${SQL_DATABASE:-<database>}"
sqlcmd_line="sqlcmd -S tcp:${SQL_HOST},1433 -d ${database} --authentication-method ActiveDirectoryDefault -b"

step "Fill these into k8s/settings/kustomization.yaml (replacing each REPLACE-ME)"
cat <<EOF
   configMapGenerator customers-sql:
     - AZURE_SQL_SERVER=tcp:${SQL_HOST},1433
     - AZURE_SQL_DATABASE=${database}
   configMapGenerator workload-identity:
     - CLIENT_ID=${CLIENT_ID}
   images: newName: <your registry>/customers   newTag: <a tag you never reuse, e.g. the git commit>
   (namespace ${NAMESPACE} and service account ${SERVICE_ACCOUNT} are what the federated credential trusts)
EOF

step "Create the table, the identity's user, and its read access (as the server's Microsoft Entra admin)"
cat <<EOF
   With go-sqlcmd, signed in through 'az login', in database ${database} (not master), in this order:
     ${sqlcmd_line} -i ${TABLE_SCRIPT}
     ${sqlcmd_line} \\
       -v IDENTITY_NAME=${IDENTITY_NAME} CLIENT_ID=${CLIENT_ID} PRINCIPAL_ID=${PRINCIPAL_ID} \\
       -i ${USER_SCRIPT}
     ${sqlcmd_line} -v IDENTITY_NAME=${IDENTITY_NAME} -i ${GRANT_SCRIPT}
   The second makes the user for this identity's object id, and stops if a user of that name
   belongs to an identity deleted since (drop that one with ${DROP_SCRIPT}).
   The third adds it to db_datareader, which reads every table; to grant SELECT on dbo.Customer
   only, run this instead of the third:
     ${sqlcmd_line} -v IDENTITY_NAME=${IDENTITY_NAME} -i ${LEAST_SCRIPT}
EOF

step "Then build, push and deploy: README.md, section \"Deploy to AKS\""
