use super::*;

const LIMITS: Limits = Limits {
    nesting: 100,
    boundary_len: 2048,
    disable_mime: false,
};

/// (kind, text) of every piece, the text without its newline.
fn pieces(content: &[u8], limits: Limits) -> (Vec<(Kind, String)>, Option<String>) {
    let mut out = Vec::new();
    let mut covered = 0;
    let err = walk(content, limits, &mut |p| {
        assert_eq!(p.span.start, covered, "pieces are contiguous");
        covered = p.span.end;
        let t = String::from_utf8_lossy(&content[p.span.clone()]);
        out.push((p.kind, t.trim_end_matches('\n').to_string()));
        true
    });
    assert_eq!(covered, content.len(), "every byte is in a piece");
    let err = err.map(|r| String::from_utf8_lossy(&content[r]).into_owned());
    (out, err)
}

fn h(c: Class, t: &str) -> (Kind, String) {
    (Kind::Header(c), t.to_string())
}

fn b(off: usize, t: &str) -> (Kind, String) {
    (Kind::Body(off), t.to_string())
}

#[test]
fn plain_message_headers_and_body_offsets() {
    let m = b"Subject: a\n\tfolded\nFrom : x\n\nline one\nline\n";
    let (p, err) = pieces(m, LIMITS);
    assert_eq!(
        p,
        vec![
            h(Class::Primary, "Subject: a\n\tfolded"),
            h(Class::Primary, "From : x"),
            b(0, ""),
            b(1, "line one"),
            b(10, "line"),
        ]
    );
    assert!(err.is_none());
}

#[test]
fn multipart_parts_nested_message_and_closing_boundary() {
    let m = concat!(
        "Content-Type: multipart/mixed; boundary=\"b1\"\n",
        "\n",
        "preamble\n",
        "--b1\n",
        "Content-Type: text/plain\n",
        "X-Part: 1\n",
        "\n",
        "text line\n",
        "--b1\n",
        "Content-Type: message/rfc822\n",
        "\n",
        "Subject: inner\n",
        "\n",
        "inner body\n",
        "--b1--\n",
        "epilogue\n",
    );
    let (p, _) = pieces(m.as_bytes(), LIMITS);
    assert_eq!(
        p,
        vec![
            h(
                Class::Primary,
                "Content-Type: multipart/mixed; boundary=\"b1\""
            ),
            b(0, ""),
            b(1, "preamble"),
            b(10, "--b1"),
            h(Class::Multipart, "Content-Type: text/plain"),
            h(Class::Multipart, "X-Part: 1"),
            b(0, ""),
            b(1, "text line"),
            b(11, "--b1"),
            h(Class::Multipart, "Content-Type: message/rfc822"),
            b(0, ""),
            h(Class::Nested, "Subject: inner"),
            b(0, ""),
            b(1, "inner body"),
            b(0, "--b1--"),
            b(7, "epilogue"),
        ]
    );
}

#[test]
fn outer_boundary_closes_an_unterminated_inner_multipart() {
    let m = concat!(
        "Content-Type: multipart/mixed; boundary=outer\n\n",
        "--outer\n",
        "Content-Type: multipart/alternative; boundary=inner\n\n",
        "--inner\n",
        "\n",
        "alt text\n",
        "--outer\n",
        "X-After: yes\n",
        "\n",
        "last\n",
    );
    let (p, _) = pieces(m.as_bytes(), LIMITS);
    assert!(p.contains(&h(Class::Multipart, "X-After: yes")), "{:?}", p);
    assert_eq!(p.last(), Some(&b(1, "last")));
}

#[test]
fn digest_parts_default_to_message_rfc822() {
    let m = concat!(
        "Content-Type: multipart/digest; boundary=d\n\n",
        "--d\n",
        "\n",
        "Subject: digested\n",
        "\n",
        "x\n",
    );
    let (p, _) = pieces(m.as_bytes(), LIMITS);
    assert!(
        p.contains(&h(Class::Nested, "Subject: digested")),
        "{:?}",
        p
    );
}

#[test]
fn nesting_beyond_the_limit_is_reported_and_not_followed() {
    let mut m = String::new();
    for i in 0..4 {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{}\n\n--b{}\n",
            i, i
        ));
    }
    m.push_str("\nbody\n");
    let limits = Limits {
        nesting: 2,
        ..LIMITS
    };
    let (_, err) = pieces(m.as_bytes(), limits);
    assert_eq!(
        err.as_deref(),
        Some("Content-Type: multipart/mixed; boundary=b3\n")
    );
    let (_, err) = pieces(m.as_bytes(), LIMITS);
    assert!(err.is_none());
}

#[test]
fn boundaries_are_cut_to_the_length_limit() {
    let m = "Content-Type: multipart/mixed; boundary=abcdef\n\n--abcXYZ\nX-H: 1\n\nx\n";
    let limits = Limits {
        boundary_len: 3,
        ..LIMITS
    };
    let (p, _) = pieces(m.as_bytes(), limits);
    assert!(p.contains(&h(Class::Multipart, "X-H: 1")), "{:?}", p);
}

#[test]
fn disabled_mime_sees_only_primary_headers() {
    let m = "Content-Type: multipart/mixed; boundary=b\n\n--b\nX-H: 1\n\nx\n";
    let limits = Limits {
        disable_mime: true,
        ..LIMITS
    };
    let (p, _) = pieces(m.as_bytes(), limits);
    assert_eq!(
        p.iter()
            .filter(|(k, _)| matches!(k, Kind::Header(_)))
            .count(),
        1
    );
    assert!(p.contains(&b(5, "X-H: 1")));
}

#[test]
fn garbage_in_a_header_block_switches_to_body() {
    let (p, _) = pieces(b"Subject: s\nnot a header\nX: y\n", LIMITS);
    assert_eq!(
        p,
        vec![
            h(Class::Primary, "Subject: s"),
            b(0, "not a header"),
            b(13, "X: y")
        ]
    );
    let (p, _) = pieces(b"A: 1\n\tcont", LIMITS);
    assert_eq!(p, vec![h(Class::Primary, "A: 1\n\tcont")]);
    assert_eq!(pieces(b"", LIMITS).0, vec![]);
}

#[test]
fn content_type_tokens() {
    assert_eq!(
        tokens(b" multipart/mixed (comment; x) "),
        vec![b"multipart".to_vec(), b"/".to_vec(), b"mixed".to_vec()]
    );
    assert_eq!(
        tokens(b" boundary = \"a b\\\"c\""),
        vec![b"boundary".to_vec(), b"=".to_vec(), b"a b\"c".to_vec()]
    );
    assert_eq!(header_name_len(b"Subject : x"), Some(7));
    assert_eq!(header_name_len(b"no header"), None);
    assert_eq!(header_name_len(b": x"), None);
}
