use proptest::prelude::*;

use super::*;
use crate::l7::test_samples::{self, hex};

fn complete(method: &'static str) -> Result<RequestLine, Http1Error> {
    Ok(RequestLine {
        method,
        complete: true,
    })
}

fn partial(method: &'static str) -> Result<RequestLine, Http1Error> {
    Ok(RequestLine {
        method,
        complete: false,
    })
}

#[test]
fn curls_get_request_line_names_its_method() {
    assert_eq!(
        parse_request_line(&hex(test_samples::CURL_GET)),
        complete("GET")
    );
}

#[test]
fn every_standard_method_is_recognised_in_every_target_form() {
    let cases: [(&[u8], &str); 9] = [
        (b"GET /index.html HTTP/1.1\r\n", "GET"),
        (b"HEAD / HTTP/1.0\r\n", "HEAD"),
        (b"POST /api/v1/flows HTTP/1.1\r\n", "POST"),
        (b"PUT http://proxy.test/x HTTP/1.1\r\n", "PUT"),
        (b"DELETE /items/7 HTTP/1.1\n", "DELETE"),
        (b"CONNECT svc.netmon.test:443 HTTP/1.1\r\n", "CONNECT"),
        (b"OPTIONS * HTTP/1.1\r\n", "OPTIONS"),
        (b"TRACE / HTTP/1.1\r\n", "TRACE"),
        (b"PATCH /items/7 HTTP/1.1\r\n", "PATCH"),
    ];
    for (line, method) in cases {
        assert_eq!(
            parse_request_line(line),
            complete(standard_method(method.as_bytes()).unwrap()),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn a_request_line_cut_inside_the_target_or_version_is_accepted() {
    assert_eq!(parse_request_line(b"GET /"), partial("GET"));
    assert_eq!(
        parse_request_line(b"GET /very/long/path?q="),
        partial("GET")
    );
    assert_eq!(parse_request_line(b"GET / HTT"), partial("GET"));
    assert_eq!(parse_request_line(b"GET / HTTP/1.1\r"), complete("GET"));
    assert_eq!(parse_request_line(b"GET http:/"), partial("GET"));
}

#[test]
fn a_method_without_a_target_is_not_enough() {
    assert_eq!(
        parse_request_line(b"GET"),
        Err(Http1Error::CutShort { part: "method" })
    );
    assert_eq!(
        parse_request_line(b"GET "),
        Err(Http1Error::CutShort { part: "target" })
    );
    assert_eq!(
        parse_request_line(b"G"),
        Err(Http1Error::CutShort { part: "method" })
    );
}

#[test]
fn lines_that_only_resemble_requests_are_refused() {
    let refused: [(&[u8], Http1Error); 10] = [
        (b"get / HTTP/1.1\r\n", Http1Error::NotHttp),
        (b"PRI * HTTP/2.0\r\n", Http1Error::NotHttp),
        (b"GET key\r\n", Http1Error::Malformed { part: "target" }),
        (b"GET /\r\n", Http1Error::BadVersion),
        (b"GET / HTTP/2.0\r\n", Http1Error::BadVersion),
        (
            b"GET / HTTP/1.1 extra\r\n",
            Http1Error::Malformed {
                part: "line ending",
            },
        ),
        (
            b"GET  / HTTP/1.1\r\n",
            Http1Error::Malformed { part: "target" },
        ),
        (
            b"OPTIONS *x HTTP/1.1\r\n",
            Http1Error::Malformed { part: "target" },
        ),
        (
            b"GET /a\x01b HTTP/1.1\r\n",
            Http1Error::Malformed { part: "target" },
        ),
        (b"SSH-2.0-OpenSSH_9.2\r\n", Http1Error::NotHttp),
    ];
    for (line, error) in refused {
        assert_eq!(
            parse_request_line(line),
            Err(error),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn status_lines_give_their_code() {
    assert_eq!(
        parse_status_line(b"HTTP/1.1 200 OK\r\n"),
        Ok(StatusLine {
            minor_version: 1,
            status: 200
        })
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.0 404 Not Found\r\n").map(|s| s.status),
        Ok(404)
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.1 204\r\n").map(|s| s.status),
        Ok(204)
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.1 503").map(|s| s.status),
        Ok(503)
    );
}

#[test]
fn status_lines_cut_short_or_out_of_range_are_refused() {
    assert_eq!(
        parse_status_line(b"HTTP/1.1 20"),
        Err(Http1Error::CutShort {
            part: "status code"
        })
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.1 700 Odd\r\n"),
        Err(Http1Error::BadStatus { code: 700 })
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.1 099 Odd\r\n"),
        Err(Http1Error::BadStatus { code: 99 })
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.1 2000\r\n"),
        Err(Http1Error::Malformed {
            part: "status code"
        })
    );
    assert_eq!(
        parse_status_line(b"HTTP/2.0 200\r\n"),
        Err(Http1Error::NotHttp)
    );
    assert_eq!(
        parse_status_line(b"220 mail ESMTP\r\n"),
        Err(Http1Error::NotHttp)
    );
}

#[test]
fn every_cut_of_a_request_is_the_same_method_or_an_error() {
    let full = hex(test_samples::CURL_GET);
    for cut in 0..=full.len() {
        match parse_request_line(&full[..cut]) {
            Ok(line) => assert!(line.method == "GET" && cut >= 5, "cut at {cut}"),
            Err(error) => assert!(cut < 5, "cut at {cut}: {error}"),
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_request_line(&bytes);
        if let Ok(line) = parse_status_line(&bytes) {
            prop_assert!((100..=599).contains(&line.status));
        }
    }

    #[test]
    fn any_standard_method_with_an_origin_target_is_recognised(
        method in proptest::sample::select(METHODS.to_vec()),
        path in "/[a-zA-Z0-9/._~%-]{0,40}",
    ) {
        let line = format!("{method} {path} HTTP/1.1\r\n");
        prop_assert_eq!(parse_request_line(line.as_bytes()), complete(standard_method(method.as_bytes()).unwrap()));
    }
}
