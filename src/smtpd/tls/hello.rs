//! What a finished TLS handshake negotiated, read from the ServerHello this server sent
//! (RFC 8446 section 4.1.3, RFC 5246 section 7.4.1.3): the protocol version (the
//! supported_versions extension for TLS 1.3) and the cipher suite, named as OpenSSL names
//! them, as Postfix logs them. native-tls does not expose either, so `Tap` records the
//! server's first handshake bytes and this module parses them. (native-tls's OpenSSL
//! server negotiates up to TLS 1.2, see `protocols`; TLS 1.3 is parsed all the same.)
//!
//! Security role: parses only bytes this server wrote (never client input), bounded, by
//! checked slicing; anything unexpected yields "unknown" rather than an error. Logs nothing.

/// The negotiated protocol and cipher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3`, `TLSv1.2`, ... or `unknown`.
    pub protocol: String,
    /// The OpenSSL cipher name, or `0xNNNN` for a suite not in our table, or `unknown`.
    pub cipher: String,
    /// The cipher's secret bits (0 when unknown).
    pub bits: u32,
}

impl Negotiated {
    /// `TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`, as in Postfix's log
    /// line and Received: header.
    pub fn describe(&self) -> String {
        format!(
            "{} with cipher {} ({}/{} bits)",
            self.protocol, self.cipher, self.bits, self.bits
        )
    }
}

/// Cipher suites: IANA number, OpenSSL name, secret bits.
const CIPHERS: &[(u16, &str, u32)] = &[
    (0x1301, "TLS_AES_128_GCM_SHA256", 128),
    (0x1302, "TLS_AES_256_GCM_SHA384", 256),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256", 256),
    (0x1304, "TLS_AES_128_CCM_SHA256", 128),
    (0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256", 128),
    (0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384", 256),
    (0xC02F, "ECDHE-RSA-AES128-GCM-SHA256", 128),
    (0xC030, "ECDHE-RSA-AES256-GCM-SHA384", 256),
    (0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305", 256),
    (0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305", 256),
    (0xCCAA, "DHE-RSA-CHACHA20-POLY1305", 256),
    (0x009E, "DHE-RSA-AES128-GCM-SHA256", 128),
    (0x009F, "DHE-RSA-AES256-GCM-SHA384", 256),
    (0xC023, "ECDHE-ECDSA-AES128-SHA256", 128),
    (0xC024, "ECDHE-ECDSA-AES256-SHA384", 256),
    (0xC027, "ECDHE-RSA-AES128-SHA256", 128),
    (0xC028, "ECDHE-RSA-AES256-SHA384", 256),
    (0xC009, "ECDHE-ECDSA-AES128-SHA", 128),
    (0xC00A, "ECDHE-ECDSA-AES256-SHA", 256),
    (0xC013, "ECDHE-RSA-AES128-SHA", 128),
    (0xC014, "ECDHE-RSA-AES256-SHA", 256),
    (0x009C, "AES128-GCM-SHA256", 128),
    (0x009D, "AES256-GCM-SHA384", 256),
    (0x003C, "AES128-SHA256", 128),
    (0x003D, "AES256-SHA256", 256),
    (0x002F, "AES128-SHA", 128),
    (0x0035, "AES256-SHA", 256),
];

fn protocol_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        _ => "unknown".into(),
    }
}

/// What the recorded server output says was negotiated.
pub fn negotiated(server_output: &[u8]) -> Negotiated {
    let unknown = Negotiated {
        protocol: "unknown".into(),
        cipher: "unknown".into(),
        bits: 0,
    };
    let Some((version, suite)) = server_hello(&handshake_bytes(server_output)) else {
        return unknown;
    };
    let (cipher, bits) = match CIPHERS.iter().find(|c| c.0 == suite) {
        Some(c) => (c.1.to_string(), c.2),
        None => (format!("0x{:04X}", suite), 0),
    };
    Negotiated {
        protocol: protocol_name(version),
        cipher,
        bits,
    }
}

/// The handshake-protocol bytes of the leading handshake records (content type 22).
fn handshake_bytes(out: &[u8]) -> Vec<u8> {
    let mut hs = Vec::new();
    let mut rest = out;
    while let [22, _, _, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some(fragment) = tail.get(..len) else {
            hs.extend_from_slice(tail);
            break;
        };
        hs.extend_from_slice(fragment);
        rest = tail.get(len..).unwrap_or_default();
    }
    hs
}

/// Reads a ServerHello's fields in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }
}

/// (version, cipher suite) of the ServerHello at the start of `hs`.
fn server_hello(hs: &[u8]) -> Option<(u16, u16)> {
    let mut r = Reader(hs);
    if r.u8()? != 2 {
        return None;
    }
    r.take(3)?; // length
    let mut version = r.u16()?;
    r.take(32)?; // random
    let sid = r.u8()?;
    r.take(usize::from(sid))?;
    let suite = r.u16()?;
    r.u8()?; // compression
    if let Some(ext_len) = r.u16() {
        let mut ext = Reader(r.take(usize::from(ext_len))?);
        while let (Some(ty), Some(len)) = (ext.u16(), ext.u16()) {
            let mut data = Reader(ext.take(usize::from(len))?);
            if ty == 43 {
                version = data.u16()?;
            }
        }
    }
    Some((version, suite))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ServerHello record with the given legacy version, suite and extensions.
    fn hello(version: u16, suite: u16, ext: &[u8]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[7; 32]);
        body.push(4);
        body.extend_from_slice(&[1, 2, 3, 4]);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        if !ext.is_empty() {
            body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            body.extend_from_slice(ext);
        }
        let mut hs = vec![2, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 3];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn tls13_version_comes_from_supported_versions() {
        let ext = [0, 51, 0, 2, 0, 29, 0, 43, 0, 2, 3, 4];
        let n = negotiated(&hello(0x0303, 0x1302, &ext));
        assert_eq!(
            n.describe(),
            "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        );
    }

    #[test]
    fn tls12_without_extensions_and_unknown_suites() {
        let n = negotiated(&hello(0x0303, 0xC02F, &[]));
        assert_eq!(n.protocol, "TLSv1.2");
        assert_eq!(n.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
        assert_eq!(n.bits, 128);
        assert_eq!(negotiated(&hello(0x0303, 0xABCD, &[])).cipher, "0xABCD");
    }

    #[test]
    fn a_record_split_in_two_and_garbage() {
        let rec = hello(0x0303, 0x1301, &[0, 43, 0, 2, 3, 4]);
        let (hdr, body) = rec.split_at(5);
        let (a, b) = body.split_at(10);
        let mut two = vec![22, 3, 3, 0, a.len() as u8];
        two.extend_from_slice(a);
        two.extend_from_slice(&[22, 3, 3, 0, b.len() as u8]);
        two.extend_from_slice(b);
        assert_eq!(hdr.len(), 5);
        assert_eq!(negotiated(&two).cipher, "TLS_AES_128_GCM_SHA256");
        assert_eq!(negotiated(b"\x16\x03").protocol, "unknown");
        assert_eq!(negotiated(&rec[..20]).cipher, "unknown");
        assert_eq!(negotiated(&[]).protocol, "unknown");
    }
}
