//! What the TLS server (smtpd, `crate::smtpd::tls`) and the TLS client (smtp,
//! `crate::delivery::smtp::tls_policy`) share, so that neither imports the other: the
//! trusted CA certificates (`cas`), certificate and public-key fingerprints (`fingerprint`),
//! the protocol-list syntax of the *_tls_protocols parameters (`protocols`), how a finished
//! handshake is described in Postfix's log lines and Received: headers (`summary`), and
//! the certificate names and their matching rules of Postfix 2.10's tls_client.c /
//! tls_verify.c (`names`). Everything here works on the `openssl` crate's types.
//!
//! Security role: `names` decides whether a server certificate carries an expected name
//! (the verify and secure levels); certificate text is checked as Postfix checks it before
//! it is compared or logged. Logs nothing.

pub mod cas;
pub mod fingerprint;
pub mod names;
pub mod protocols;
pub mod summary;
