//! Entra's token endpoint before any key is fetched: the form body, the scope, and the client
//! assertion (a JWT) checked against a federated credential. Any body is answered with an
//! AADSTS refusal or accepted for the signature check, never a panic.
#![no_main]

use azure_sql_sandbox::entra::assertion::check_unverified;
use azure_sql_sandbox::entra::directory::FederatedCredential;
use azure_sql_sandbox::entra::token_endpoint::{parse_form, resource_of_scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let form = parse_form(data);
    if let Some(scope) = form.get("scope") {
        let _ = resource_of_scope(scope);
    }
    if let Some(assertion) = form.get("client_assertion") {
        let credentials = [FederatedCredential {
            name: "aks".into(),
            issuer: "https://localhost:8443/issuer/".into(),
            subject: "system:serviceaccount:customers:customers".into(),
            audiences: vec!["api://AzureADTokenExchange".into()],
        }];
        if let Err(refusal) = check_unverified(&credentials, assertion) {
            let _ = (refusal.code(), refusal.message());
        }
    }
});
