//! The doctor's first steps, before anything goes on the network: the settings and the token
//! source they choose (`settings`), the workload identity webhook's variables
//! (`workload_identity_env`), and the projected service-account token (`token_file`).

use super::jwt::{self, Claims};
use super::report::{Outcome, Walk, SETTINGS, TOKEN_FILE, WORKLOAD_IDENTITY_ENV};
use crate::config::{Authentication, Config};
use crate::credential::{
    self, Environment, AZURE_AUTHORITY_HOST, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
    AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, IDENTITY_ENDPOINT, IDENTITY_HEADER,
};
use std::time::SystemTime;

/// The audience a projected token must have for the exchange (and a federated credential lists).
pub(crate) const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Set by Kubernetes in every container: the doctor runs in a pod.
const KUBERNETES_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";

/// The label and annotation a pod needs for the webhook to inject.
const POD_OPT_IN: &str = "label the pod template `azure.workload.identity/use: \"true\"` (spec.template.metadata.labels, not the Deployment's own labels), annotate its service account `azure.workload.identity/client-id: <the identity's client id>`, then restart the pod";

/// Where the token comes from, as far as the settings tell before anything runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    WorkloadIdentity,
    ServicePrincipal,
    ManagedIdentity,
    AzureCli,
    /// `Active Directory Default` with none of the variables that pick a source: managed
    /// identity if this host has one, else the Azure CLI.
    DefaultOther,
    /// `Sql Password`: no token.
    None,
}

/// What the steps share.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a Config,
    pub(crate) env: &'a Environment,
    pub(crate) source: Source,
    /// Whether the settings were valid (later steps need them).
    pub(crate) valid: bool,
}

impl<'a> Context<'a> {
    pub(crate) fn new(config: &'a Config, env: &'a Environment) -> Self {
        Self {
            config,
            env,
            source: Source::None,
            valid: false,
        }
    }

    /// Whether the source is Entra (any mode but `Sql Password`).
    pub(crate) fn uses_tokens(&self) -> bool {
        self.source != Source::None
    }

    /// The client id the token is asked for, when there is one to name.
    pub(crate) fn client_id(&self) -> Option<String> {
        credential::client_id(self.config, self.env)
    }

    /// The tenant, when configured (a bad one reads as none: the settings step reported it).
    pub(crate) fn tenant_id(&self) -> Option<String> {
        credential::tenant_id(self.config, self.env).ok().flatten()
    }
}

/// `settings`: the configuration validates; which token source it picks, and why.
pub(crate) fn settings(walk: &mut Walk, context: &mut Context<'_>) {
    let config = context.config;
    if let Err(e) = config.validate() {
        walk.record(SETTINGS, Outcome::failed(Vec::new(), e.to_string()));
        return;
    }
    let (source, why) = choose(config, context.env);
    context.source = source;
    context.valid = true;
    let database = match config.get_database() {
        Some(db) => format!("database {db}"),
        None => "no database named (Database= is not set)".to_owned(),
    };
    let seen = vec![
        format!(
            "server {}:{}, {database}, Encrypt={:?}",
            config.get_host(),
            config.get_port(),
            config.get_encrypt()
        ),
        format!(
            "Authentication={}: {why}",
            config.get_authentication().as_str()
        ),
    ];
    walk.record(SETTINGS, Outcome::Passed(seen));
}

/// The token source `config` picks with `env`, and why (the default chain's order, see
/// `credential/default_chain.rs`, without asking anyone).
fn choose(config: &Config, env: &Environment) -> (Source, String) {
    let wi_ready = || {
        credential::federated_token_file(config, env).is_some()
            && credential::client_id(config, env).is_some()
    };
    match config.get_authentication() {
        Authentication::WorkloadIdentity => (
            Source::WorkloadIdentity,
            "the projected service-account token is traded at Entra".into(),
        ),
        Authentication::ManagedIdentity => (
            Source::ManagedIdentity,
            "the host's managed identity (IMDS or App Service) issues the token".into(),
        ),
        Authentication::ServicePrincipal => (
            Source::ServicePrincipal,
            "a client secret is traded at Entra".into(),
        ),
        Authentication::AzureCli => (
            Source::AzureCli,
            "the Azure CLI login (`az account get-access-token`) issues the token".into(),
        ),
        Authentication::SqlPassword => (
            Source::None,
            "a SQL login and password, no Entra token".into(),
        ),
        Authentication::Default => {
            if [AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET]
                .iter()
                .all(|v| env.var(v).is_some())
            {
                (
                    Source::ServicePrincipal,
                    "the default chain picks the environment's service principal (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET are set)".into(),
                )
            } else if wi_ready() {
                (
                    Source::WorkloadIdentity,
                    "the default chain picks workload identity (a federated token file and a client id are set)".into(),
                )
            } else if env.var(KUBERNETES_SERVICE_HOST).is_some() {
                (
                    Source::WorkloadIdentity,
                    "this runs in a Kubernetes pod, where the default chain is meant to pick workload identity".into(),
                )
            } else if env.var(IDENTITY_ENDPOINT).is_some() && env.var(IDENTITY_HEADER).is_some() {
                (
                    Source::ManagedIdentity,
                    "the default chain picks App Service's managed identity (IDENTITY_ENDPOINT is set)".into(),
                )
            } else {
                (
                    Source::DefaultOther,
                    "no AZURE_* variables pick a source: the default chain tries this host's managed identity (IMDS), then the Azure CLI login".into(),
                )
            }
        }
    }
}

/// Why a workload identity step does not apply, if it does not.
pub(crate) fn not_workload_identity(context: &Context<'_>) -> Option<String> {
    (context.valid && context.source != Source::WorkloadIdentity)
        .then(|| "the token does not come from workload identity".to_owned())
}

/// `workload_identity_env`: the four variables the webhook injects (or their settings).
pub(crate) fn workload_identity_env(walk: &mut Walk, context: &Context<'_>) {
    if !walk.gate(WORKLOAD_IDENTITY_ENV, not_workload_identity(context)) {
        return;
    }
    let (config, env) = (context.config, context.env);
    let from = |setting: bool, variable: &str| {
        if setting {
            "the configuration".to_owned()
        } else {
            variable.to_owned()
        }
    };
    let mut seen = Vec::new();
    let mut missing = Vec::new();
    match credential::client_id(config, env) {
        Some(id) => seen.push(format!(
            "client id {id} (from {})",
            from(config.get_user_id().is_some(), AZURE_CLIENT_ID)
        )),
        None => missing.push(AZURE_CLIENT_ID),
    }
    match credential::tenant_id(config, env) {
        Ok(Some(tenant)) => seen.push(format!(
            "tenant {tenant} (from {})",
            from(config.get_tenant_id().is_some(), AZURE_TENANT_ID)
        )),
        Ok(None) => missing.push(AZURE_TENANT_ID),
        Err(e) => {
            walk.record(WORKLOAD_IDENTITY_ENV, Outcome::failed(seen, e.to_string()));
            return;
        }
    }
    let authority_set =
        config.get_authority_host().is_some() || env.var(AZURE_AUTHORITY_HOST).is_some();
    match credential::authority_host(config, env) {
        Ok(authority) if authority_set => seen.push(format!(
            "authority {authority} (from {})",
            from(config.get_authority_host().is_some(), AZURE_AUTHORITY_HOST)
        )),
        Ok(_) => missing.push(AZURE_AUTHORITY_HOST),
        Err(e) => {
            walk.record(WORKLOAD_IDENTITY_ENV, Outcome::failed(seen, e.to_string()));
            return;
        }
    }
    match credential::federated_token_file(config, env) {
        Some(file) => seen.push(format!(
            "token file {} (from {})",
            file.display(),
            from(
                config.get_federated_token_file().is_some(),
                AZURE_FEDERATED_TOKEN_FILE
            )
        )),
        None => missing.push(AZURE_FEDERATED_TOKEN_FILE),
    }
    if missing.is_empty() {
        walk.record(WORKLOAD_IDENTITY_ENV, Outcome::Passed(seen));
        return;
    }
    seen.push(format!("not set: {}", missing.join(", ")));
    let fix = if missing == [AZURE_CLIENT_ID] {
        "The webhook injected its other variables, so the pod is labelled, but its service account has no client id: annotate the service account `azure.workload.identity/client-id: <the identity's client id>` (az identity show -n <identity> -g <group> --query clientId) and restart the pod".to_owned()
    } else if missing.len() == 4 {
        format!("The workload identity webhook injected nothing, so the pod does not look labelled: {POD_OPT_IN}")
    } else {
        format!(
            "Set {} (the webhook sets them when the pod opts in: {POD_OPT_IN})",
            missing.join(", ")
        )
    };
    walk.record(WORKLOAD_IDENTITY_ENV, Outcome::failed(seen, fix));
}

/// What the exchange step compares Entra's refusals with.
pub(crate) struct Assertion {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
}

/// `token_file`: readable, a JWT with the exchange's audience, not expired; its issuer and
/// subject shown.
pub(crate) async fn token_file(walk: &mut Walk, context: &Context<'_>) -> Option<Assertion> {
    if !walk.gate(TOKEN_FILE, not_workload_identity(context)) {
        return None;
    }
    let Some(path) = credential::federated_token_file(context.config, context.env) else {
        walk.record(
            TOKEN_FILE,
            Outcome::failed(
                Vec::new(),
                format!("No token file is named: set AZURE_FEDERATED_TOKEN_FILE (the webhook does: {POD_OPT_IN})"),
            ),
        );
        return None;
    };
    let shown = path.display().to_string();
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(e) => {
            walk.record(
                TOKEN_FILE,
                Outcome::failed(
                    vec![format!("cannot read {shown}: {e}")],
                    format!("AZURE_FEDERATED_TOKEN_FILE names {shown}, which this process cannot read: the webhook mounts the projected token at /var/run/secrets/azure/tokens/azure-identity-token; check the pod's volume azure-identity-token and that the variable was not overridden"),
                ),
            );
            return None;
        }
    };
    let claims = match jwt::claims(&text) {
        Ok(claims) => claims,
        Err(why) => {
            walk.record(
                TOKEN_FILE,
                Outcome::failed(
                    vec![format!("{shown} holds {} bytes, not a JWT: {why}", text.trim().len())],
                    format!("AZURE_FEDERATED_TOKEN_FILE must name the kubelet's projected service-account token (a JWT), not {shown}"),
                ),
            );
            return None;
        }
    };
    inspect(walk, &shown, &claims)
}

/// The checks on the token's claims.
fn inspect(walk: &mut Walk, shown: &str, claims: &Claims) -> Option<Assertion> {
    let assertion = Assertion {
        issuer: claims.text("iss").unwrap_or_default().to_owned(),
        subject: claims.text("sub").unwrap_or_default().to_owned(),
        audiences: claims.texts("aud"),
    };
    let mut seen = vec![
        format!("file {shown}"),
        format!("iss {}", assertion.issuer),
        match service_account(&assertion.subject) {
            Some((namespace, account)) => format!(
                "sub {} (namespace {namespace}, service account {account})",
                assertion.subject
            ),
            None => format!("sub {}", assertion.subject),
        },
        format!("aud {}", assertion.audiences.join(", ")),
    ];
    let expires = claims.time("exp");
    if let Some(exp) = expires {
        seen.push(format!("exp {}", jwt::when(exp)));
    }
    if !assertion.audiences.iter().any(|a| a == EXCHANGE_AUDIENCE) {
        walk.record(
            TOKEN_FILE,
            Outcome::failed(seen, format!("The token's audience (aud) is {}, not {EXCHANGE_AUDIENCE}: project the token for that audience (the webhook does; a hand-written projected volume needs serviceAccountToken.audience: {EXCHANGE_AUDIENCE})", assertion.audiences.join(", "))),
        );
        return None;
    }
    match expires {
        None => {
            walk.record(
                TOKEN_FILE,
                Outcome::failed(seen, "The token has no expiry (exp): AZURE_FEDERATED_TOKEN_FILE must name the kubelet's projected service-account token"),
            );
            return None;
        }
        Some(exp) if exp <= SystemTime::now() => {
            walk.record(
                TOKEN_FILE,
                Outcome::failed(seen, "The token has expired (exp), and the kubelet rewrites the projected file well before that: AZURE_FEDERATED_TOKEN_FILE names a copy or a file nothing refreshes; point it at the projected volume (/var/run/secrets/azure/tokens/azure-identity-token), and check the node's clock"),
            );
            return None;
        }
        Some(_) => {}
    }
    if service_account(&assertion.subject).is_none() {
        walk.record(
            TOKEN_FILE,
            Outcome::failed(seen, "The token's subject (sub) is not system:serviceaccount:<namespace>:<service account>: AZURE_FEDERATED_TOKEN_FILE must name the kubelet's projected service-account token"),
        );
        return None;
    }
    walk.record(TOKEN_FILE, Outcome::Passed(seen));
    Some(assertion)
}

/// `system:serviceaccount:<namespace>:<name>` → its namespace and name.
pub(crate) fn service_account(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}
