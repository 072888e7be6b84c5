//! The doctor's Entra steps: the authority reachable (DNS, TCP, TLS: `entra_reachable`), the one
//! token request, its refusal explained field by field (`token_exchange`), and the access
//! token's claims checked against the server (`access_token`).

use super::dns::{self, Lookup};
use super::identity::{Assertion, Context, Source, EXCHANGE_AUDIENCE};
use super::jwt;
use super::report::{Outcome, Walk, ACCESS_TOKEN, ENTRA_REACHABLE, TOKEN_EXCHANGE};
use crate::credential;
use crate::error::{aadsts_hint, TokenFailure};
use azure_core::credentials::AccessToken;
use std::time::{Duration, SystemTime};

/// Bounds the token request beyond the HTTP client's own timeout (30 s), should a credential
/// not honour it (the Azure CLI is a child process).
const TOKEN_REQUEST_BOUND: Duration = Duration::from_secs(35);

/// `entra_reachable`: for the sources that talk to Entra's token endpoint themselves.
pub(crate) async fn reachable(walk: &mut Walk, context: &Context<'_>) {
    let not_applicable = match context.source {
        Source::WorkloadIdentity | Source::ServicePrincipal => None,
        Source::None => Some("no Entra token is used".to_owned()),
        _ => Some("this source gets its token through a local endpoint or program; the token_exchange step asks it".to_owned()),
    };
    if !walk.gate(ENTRA_REACHABLE, not_applicable.filter(|_| context.valid)) {
        return;
    }
    let outcome = probe(context).await;
    walk.record(ENTRA_REACHABLE, outcome);
}

async fn probe(context: &Context<'_>) -> Outcome {
    let authority = match credential::authority_host(context.config, context.env) {
        Ok(a) => a,
        Err(e) => return Outcome::failed(Vec::new(), e.to_string()),
    };
    let bad_authority = || {
        Outcome::failed(
            vec![format!("authority {authority}")],
            "The authority is not an https:// URL with a host: set AZURE_AUTHORITY_HOST to https://login.microsoftonline.com/ (public cloud)",
        )
    };
    let Ok(url) = url::Url::parse(&authority) else {
        return bad_authority();
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return bad_authority();
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let bound = context.config.get_connect_timeout();
    let mut seen = vec![format!("authority {authority}")];
    let (lookup, line) = dns::resolve(&host, port, bound).await;
    seen.push(line);
    let addresses = match lookup {
        Lookup::Found(addresses) => addresses,
        Lookup::NoSuchName => {
            return Outcome::failed(seen, format!("{host} does not resolve here: check AZURE_AUTHORITY_HOST (https://login.microsoftonline.com/ in the public cloud) and the pod's DNS"));
        }
        Lookup::NoAnswer => {
            return Outcome::failed(
                seen,
                "The DNS resolver did not answer: check the pod's DNS (CoreDNS) and its egress"
                    .to_owned(),
            );
        }
    };
    let tcp = match addresses.first() {
        Some(first) => tokio::time::timeout(bound, tokio::net::TcpStream::connect(first)).await,
        None => Ok(Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address",
        ))),
    };
    match tcp {
        Ok(Ok(stream)) => {
            seen.push(format!(
                "TCP: connected to {}",
                stream
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_else(|_| format!("{host}:{port}"))
            ));
        }
        Ok(Err(e)) => {
            seen.push(format!("TCP to {host}:{port}: {e}"));
            return Outcome::failed(seen, format!("Nothing accepts TCP at {host}:{port}: allow egress to Entra on 443 (network policy, NSG or firewall: the AzureActiveDirectory service tag), and check the port in AZURE_AUTHORITY_HOST"));
        }
        Err(_) => {
            seen.push(format!("TCP to {host}:{port}: no answer within {bound:?}"));
            return Outcome::failed(seen, format!("TCP to {host}:{port} got no answer: allow egress to Entra on 443 (network policy, NSG or firewall: the AzureActiveDirectory service tag)"));
        }
    }
    // TLS (and HTTP) through the very client the token request uses, on the tenant's public
    // OpenID configuration: any HTTP answer means the certificate was trusted.
    let client = match credential::http_client(context.config) {
        Ok(c) => c,
        Err(e) => return Outcome::failed(seen, e.to_string()),
    };
    let tenant = context.tenant_id().unwrap_or_else(|| "common".to_owned());
    let discovery = format!(
        "{}/{tenant}/v2.0/.well-known/openid-configuration",
        authority.trim_end_matches('/')
    );
    match client.get(&discovery).send().await {
        Ok(response) => {
            seen.push(format!(
                "TLS: certificate valid for {host}; the tenant's OpenID configuration answered HTTP {}",
                response.status().as_u16()
            ));
            Outcome::Passed(seen)
        }
        Err(e) => {
            seen.push(format!("HTTPS to {host}: {}", credential::error_chain(&e)));
            Outcome::failed(seen, format!("TLS with {host} failed: if a proxy inspects TLS, trust its CA (Config::trust_root_certificate_pem, the demo's --ca-file); else check the system's CA store and AZURE_AUTHORITY_HOST"))
        }
    }
}

/// `token_exchange`: the one token request. Returns the token for the login.
pub(crate) async fn exchange(
    walk: &mut Walk,
    context: &Context<'_>,
    assertion: Option<&Assertion>,
) -> Option<AccessToken> {
    let not_applicable = (!context.uses_tokens()).then(|| "no Entra token is used".to_owned());
    if !walk.gate(TOKEN_EXCHANGE, not_applicable.filter(|_| context.valid)) {
        return None;
    }
    let provider = match credential::provider_for_with(context.config, context.env) {
        Ok(Some(provider)) => provider,
        Ok(None) => {
            walk.record(
                TOKEN_EXCHANGE,
                Outcome::NotApplicable("no Entra token is used".into()),
            );
            return None;
        }
        Err(e) => {
            walk.record(TOKEN_EXCHANGE, Outcome::failed(Vec::new(), e.to_string()));
            return None;
        }
    };
    let scope = context.config.get_token_scope();
    let kind = provider.kind();
    let answer = tokio::time::timeout(TOKEN_REQUEST_BOUND, provider.fetch(scope)).await;
    let failure = match answer {
        Ok(Ok(token)) => {
            let expires = SystemTime::from(token.expires_on);
            walk.record(
                TOKEN_EXCHANGE,
                Outcome::Passed(vec![format!(
                    "{kind} issued a token for {scope}, expiring {}",
                    jwt::when(expires)
                )]),
            );
            return Some(token);
        }
        Ok(Err(e)) => TokenFailure::from_azure(&e),
        Err(_) => TokenFailure::timed_out(TOKEN_REQUEST_BOUND),
    };
    let mut seen = vec![format!("{kind} answered: {failure}")];
    if let Some(status) = failure.http_status {
        seen.push(format!("HTTP status {status}"));
    }
    let fix = refusal_fix(context, &failure, assertion);
    walk.record(TOKEN_EXCHANGE, Outcome::failed(seen, fix));
    None
}

/// The fix for a refused or failed token request, naming the field to compare.
fn refusal_fix(
    context: &Context<'_>,
    failure: &TokenFailure,
    assertion: Option<&Assertion>,
) -> String {
    let client = context.client_id().unwrap_or_else(|| "<client id>".into());
    let tenant = context.tenant_id().unwrap_or_else(|| "<tenant>".into());
    let (iss, sub, aud) = match assertion {
        Some(a) => (
            a.issuer.as_str(),
            a.subject.as_str(),
            a.audiences.join(", "),
        ),
        None => ("<issuer>", "<subject>", EXCHANGE_AUDIENCE.to_owned()),
    };
    let client_field = match context.source {
        Source::WorkloadIdentity => {
            "AZURE_CLIENT_ID (the service account's azure.workload.identity/client-id annotation)"
        }
        _ => "User Id (or AZURE_CLIENT_ID)",
    };
    let listed = "az identity federated-credential list --identity-name <identity> -g <group>";
    match failure.aadsts {
        Some(700211) => format!("No federated credential on the identity has the token's issuer {iss}: compare the `issuer` of `{listed}` with it character for character (trailing slash included); the cluster's is `az aks show -g <group> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv`"),
        Some(700212) => format!("No federated credential accepts the token's audience {aud}: its `audiences` must be [{EXCHANGE_AUDIENCE}] (`{listed}`)"),
        Some(700213) => format!("No federated credential on the identity has the token's subject {sub}: either run the pod as the service account a credential's `subject` names (`{listed}`), or add one with exactly that `subject`: az identity federated-credential create --name <name> --identity-name <identity> -g <group> --issuer {iss} --subject {sub} --audience {EXCHANGE_AUDIENCE}"),
        Some(7002138) => format!("A federated credential's `subject` differs from the token's {sub} only in upper/lower case, and Entra compares exactly: set it to {sub} (`{listed}`, then az identity federated-credential update)"),
        Some(700016 | 700017) => format!("The client id {client} is not an application in tenant {tenant}: set {client_field} to the identity's client id (az identity show -n <identity> -g <group> --query clientId -o tsv)"),
        Some(90002 | 900023) => format!("Tenant {tenant} was not found: set AZURE_TENANT_ID to the identity's tenant (az account show --query tenantId -o tsv)"),
        Some(code) => match aadsts_hint(code) {
            Some(hint) => hint.to_owned(),
            None => format!("Entra refused with AADSTS{code}: look the code up (https://login.microsoftonline.com/error?code={code}) and compare the identity's settings with {client_field} and AZURE_TENANT_ID"),
        },
        None if failure.transient => "Entra did not answer or is having trouble: check egress to the authority on 443 and try again in a minute".to_owned(),
        None => match context.source {
            Source::ManagedIdentity => "The managed identity endpoint did not issue a token: check that this host has the identity assigned and, for a user-assigned one, that User Id (or AZURE_CLIENT_ID) is its client id".to_owned(),
            Source::AzureCli => "The Azure CLI did not issue a token: run `az login` (and `az account set`) as the user running this program".to_owned(),
            Source::DefaultOther => "No source of the default chain issued a token: in a pod, enable workload identity; elsewhere set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET, or run `az login`".to_owned(),
            _ => format!("The request did not reach a refusal ({}): check {client_field}, AZURE_TENANT_ID and the token file", failure.message),
        },
    }
}

/// `access_token`: its claims shown; audience, tenant and expiry checked.
pub(crate) fn access_token(walk: &mut Walk, context: &Context<'_>, token: Option<&AccessToken>) {
    let not_applicable = (!context.uses_tokens()).then(|| "no Entra token is used".to_owned());
    if !walk.gate(ACCESS_TOKEN, not_applicable.filter(|_| context.valid)) {
        return;
    }
    let Some(token) = token else {
        walk.record(
            ACCESS_TOKEN,
            Outcome::NotApplicable("no token to read".into()),
        );
        return;
    };
    let claims = match jwt::claims(token.token.secret()) {
        Ok(claims) => claims,
        Err(why) => {
            walk.record(
                ACCESS_TOKEN,
                Outcome::Passed(vec![format!("the token is not a JWT ({why}), so its claims cannot be shown; the login step checks it")]),
            );
            return;
        }
    };
    let text = |name: &str| claims.text(name).unwrap_or("-").to_owned();
    let audiences = claims.texts("aud");
    let mut seen = vec![
        format!("aud {}", audiences.join(", ")),
        format!("iss {}", text("iss")),
        format!("tid {}", text("tid")),
        format!("oid {}", text("oid")),
        format!(
            "appid {}",
            claims.text("appid").or(claims.text("azp")).unwrap_or("-")
        ),
    ];
    let expires = claims.time("exp");
    if let Some(exp) = expires {
        seen.push(format!("exp {}", jwt::when(exp)));
    }
    let scope = context.config.get_token_scope();
    let resource = scope.strip_suffix(".default").unwrap_or(scope);
    let same = |a: &str| {
        a.trim_end_matches('/')
            .eq_ignore_ascii_case(resource.trim_end_matches('/'))
    };
    if !audiences.iter().any(|a| same(a)) {
        let fix = format!("The token's audience (aud) is not {resource}, the resource of server {}: use the server's own DNS name in Server= (its suffix picks the cloud), or correct the configured token scope", context.config.get_host());
        walk.record(ACCESS_TOKEN, Outcome::failed(seen, fix));
        return;
    }
    if let (Some(tid), Some(tenant)) = (claims.text("tid"), context.tenant_id()) {
        let guid = tenant.len() == 36 && tenant.chars().filter(|c| *c == '-').count() == 4;
        if guid && !tid.eq_ignore_ascii_case(&tenant) {
            let fix = format!("The token is from tenant (tid) {tid}, not the configured {tenant}: set AZURE_TENANT_ID to the tenant of the server's Microsoft Entra admin");
            walk.record(ACCESS_TOKEN, Outcome::failed(seen, fix));
            return;
        }
    }
    if expires.is_some_and(|exp| exp <= SystemTime::now()) {
        walk.record(
            ACCESS_TOKEN,
            Outcome::failed(
                seen,
                "The token had expired (exp) when it arrived: check this host's clock (NTP)",
            ),
        );
        return;
    }
    walk.record(ACCESS_TOKEN, Outcome::Passed(seen));
}
