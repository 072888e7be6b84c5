//! The Microsoft Entra ID stand-in.
//!
//! Two listeners on loopback, port 0:
//! - **HTTPS** (the authority host, `https://localhost:PORT/`, certificate from the sandbox CA):
//!   the token endpoint `POST /{tenant}/oauth2/v2.0/token` (and v1's `/{tenant}/oauth2/token`,
//!   [`token_endpoint`]), discovery and
//!   JWKS ([`discovery`]);
//! - **plain HTTP** (`http://127.0.0.1:PORT`): managed identity, IMDS and App Service ([`imds`]).
//!
//! One concept per file: the running service (`service.rs`: [`Entra`], its options, listeners and
//! routes) and what its handlers share (`state.rs`); the [`directory`] of tenants, apps and
//! identities; the [`aadsts`] refusal table; the signing [`keys`] and their rotation; the
//! [`access_token`]s issued; federated [`assertion`] validation with issuers' keys fetched by
//! [`remote_keys`]; and the SQL side's [`validator`].

pub mod aadsts;
pub mod access_token;
pub mod assertion;
pub mod directory;
pub mod discovery;
pub mod imds;
pub mod keys;
pub mod remote_keys;
mod service;
mod state;
pub mod token_endpoint;
pub mod validator;

pub use service::{Entra, EntraError, EntraOptions};
pub use state::EntraState;
