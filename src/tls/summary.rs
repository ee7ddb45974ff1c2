//! The protocol and cipher a finished handshake negotiated, worded as Postfix 2.10's
//! tls_server.c / tls_client.c word them in the `... TLS connection established ...` log
//! lines and smtpd's Received: header: `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384
//! (256/256 bits)` (SSL_get_version, SSL_CIPHER_get_name, SSL_CIPHER_get_bits).
//!
//! Security role: none (names chosen by the TLS library). Logs nothing.

use openssl::ssl::SslRef;

/// The negotiated protocol and cipher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cipher {
    /// `TLSv1.3`, `TLSv1.2`, ...
    pub protocol: String,
    /// The OpenSSL cipher name.
    pub name: String,
    /// The cipher's secret bits and its algorithm's bits.
    pub bits: (i32, i32),
}

impl Cipher {
    /// What `ssl` negotiated.
    pub fn of(ssl: &SslRef) -> Cipher {
        let (name, bits) = match ssl.current_cipher() {
            Some(c) => {
                let b = c.bits();
                (c.name().to_string(), (b.secret, b.algorithm))
            }
            None => ("unknown".to_string(), (0, 0)),
        };
        Cipher {
            protocol: ssl.version_str().to_string(),
            name,
            bits,
        }
    }

    /// `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`.
    pub fn describe(&self) -> String {
        describe(&self.protocol, &self.name, self.bits)
    }
}

/// Postfix's wording of a protocol, a cipher and its used/algorithm bits.
pub fn describe(protocol: &str, cipher: &str, bits: (i32, i32)) -> String {
    format!(
        "{} with cipher {} ({}/{} bits)",
        protocol, cipher, bits.0, bits.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_wording() {
        let c = Cipher {
            protocol: "TLSv1.2".into(),
            name: "ECDHE-RSA-AES256-GCM-SHA384".into(),
            bits: (256, 256),
        };
        assert_eq!(
            c.describe(),
            "TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"
        );
    }
}
