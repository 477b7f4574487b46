use std::net::{IpAddr, Ipv4Addr};

use super::*;

const REQUEST: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: svc\r\nUser-Agent: curl/7.88.1\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
const SSH_BANNER: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";

fn end(last: u8, port: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
        port,
    }
}

fn client_to_server() -> DirectionalKey {
    DirectionalKey {
        src: end(9, 45000),
        dst: end(2, 8080),
        protocol: Protocol::Tcp,
    }
}

fn classifier() -> AppClassifier {
    AppClassifier::new(ProtocolSet::all(), 100)
}

fn protocol_of(verdict: &Verdict) -> Option<AppProtocol> {
    match &verdict.observation.as_ref()?.update {
        AppUpdate::Protocol { protocol, .. } => Some(*protocol),
        AppUpdate::Dns(_) => None,
    }
}

#[test]
fn an_http_request_and_its_response_are_one_http_connection_counted_once() {
    let mut c = classifier();
    let request = c.observe(client_to_server(), REQUEST, 1);
    assert_eq!(protocol_of(&request), Some(AppProtocol::Http));
    assert!(request.done, "the request line says all a request will");
    assert_eq!(request.classified, Some(AppProtocol::Http));
    let response = c.observe(client_to_server().reversed(), RESPONSE, 2);
    assert!(response.done);
    assert_eq!(response.classified, None, "counted once, from the request");
    let Some(AppObservation {
        update: AppUpdate::Protocol { fields, .. },
        ..
    }) = response.observation
    else {
        panic!("the status is news: {response:?}");
    };
    assert_eq!(fields.http_method.as_deref(), Some("GET"));
    assert_eq!(fields.http_status, Some(404));
}

#[test]
fn a_sample_after_its_direction_is_done_is_only_acknowledged() {
    let mut c = classifier();
    c.observe(client_to_server(), REQUEST, 1);
    let again = c.observe(client_to_server(), REQUEST, 2);
    assert_eq!(
        again,
        Verdict {
            observation: None,
            done: true,
            classified: None
        }
    );
}

#[test]
fn a_sample_taken_before_the_mark_was_written_is_only_acknowledged() {
    let mut c = classifier();
    c.observe(client_to_server(), REQUEST, 10);
    c.marked(&[client_to_server()], 50);
    // In flight when the mark was written: the same connection.
    let late = c.observe(client_to_server(), REQUEST, 40);
    assert_eq!(
        (late.done, late.observation, late.classified),
        (true, None, None)
    );
}

#[test]
fn a_sample_after_the_mark_is_a_new_connection_on_the_same_ports() {
    const SECOND: &[u8] = b"POST /orders HTTP/1.1\r\nHost: svc\r\n\r\n";
    const CREATED: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    let mut c = classifier();
    c.observe(client_to_server(), REQUEST, 10);
    c.observe(client_to_server().reversed(), RESPONSE, 20);
    c.marked(&[client_to_server(), client_to_server().reversed()], 30);
    // The kernel samples again only after a SYN forgot its marks.
    let request = c.observe(client_to_server(), SECOND, 1_000);
    assert_eq!(protocol_of(&request), Some(AppProtocol::Http));
    assert_eq!(
        request.classified,
        Some(AppProtocol::Http),
        "a second connection"
    );
    let response = c.observe(client_to_server().reversed(), CREATED, 1_010);
    let Some(AppObservation {
        update: AppUpdate::Protocol { fields, .. },
        ..
    }) = response.observation
    else {
        panic!("the new status is news: {response:?}");
    };
    assert_eq!(
        (fields.http_method.as_deref(), fields.http_status),
        (Some("POST"), Some(201)),
        "nothing of the first connection's request or status"
    );
}

#[test]
fn an_unknown_protocol_stays_unknown_and_is_given_up_after_the_budget() {
    let mut c = classifier();
    for n in 1..GIVE_UP_AFTER {
        let verdict = c.observe(client_to_server(), SSH_BANNER, u64::from(n));
        assert_eq!(verdict, Verdict::default(), "sample {n}");
    }
    let last = c.observe(client_to_server(), SSH_BANNER, 99);
    assert!(last.done && last.observation.is_none() && last.classified.is_none());
}

#[test]
fn a_response_seen_alone_names_the_connection_without_counting_it() {
    // Behind DNAT the backend's side of a connection is sampled under other
    // addresses than the client's request: the request's side counts it.
    let mut c = classifier();
    let response = c.observe(client_to_server().reversed(), RESPONSE, 1);
    assert_eq!(protocol_of(&response), Some(AppProtocol::Http));
    assert!(response.done);
    assert_eq!(response.classified, None);
}

#[test]
fn a_disabled_protocol_is_not_reported() {
    let mut c = AppClassifier::new([AppProtocol::Tls].into_iter().collect(), 100);
    let verdict = c.observe(client_to_server(), REQUEST, 1);
    assert_eq!(verdict.observation, None);
    assert_eq!(verdict.classified, None);
}

#[test]
fn a_full_classifier_still_classifies_and_counts_the_untracked_sample() {
    let mut c = AppClassifier::new(ProtocolSet::all(), 1);
    c.observe(client_to_server(), SSH_BANNER, 1);
    let other = DirectionalKey {
        src: end(5, 41000),
        ..client_to_server()
    };
    let verdict = c.observe(other, REQUEST, 2);
    assert_eq!(protocol_of(&verdict), Some(AppProtocol::Http));
    assert_eq!(c.stats().untracked_samples, 1);
    assert_eq!(c.stats().connections, 1);
}

#[test]
fn quiet_connections_are_forgotten() {
    let mut c = classifier();
    c.observe(client_to_server(), SSH_BANNER, 10);
    c.forget_before(5);
    assert_eq!(c.stats().connections, 1);
    c.forget_before(11);
    assert_eq!(c.stats().connections, 0);
}

#[test]
fn http2_responses_are_read_as_the_responders_until_a_status_comes() {
    // A client preface with SETTINGS, then the server's SETTINGS alone:
    // frames read as either side's once HTTP/2 is known, but the server's
    // direction owes a status, so it is not done before its HEADERS.
    let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    preface.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    // HEADERS on stream 1, END_HEADERS: :method GET (static 2), :path /
    // (static 4), :scheme http (static 6).
    preface.extend_from_slice(&[0, 0, 3, 1, 0x04, 0, 0, 0, 1, 0x82, 0x84, 0x86]);
    let server_settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
    // HEADERS on stream 1: :status 200 (static 8).
    let server_headers = [0u8, 0, 1, 1, 0x04, 0, 0, 0, 1, 0x88];
    let mut c = classifier();
    let request = c.observe(client_to_server(), &preface, 1);
    assert_eq!(protocol_of(&request), Some(AppProtocol::Http2));
    assert!(request.done, "the request gave its method");
    let settings = c.observe(client_to_server().reversed(), &server_settings, 2);
    assert!(!settings.done, "no status yet: {settings:?}");
    let response = c.observe(client_to_server().reversed(), &server_headers, 3);
    assert!(response.done);
    let Some(AppObservation {
        update: AppUpdate::Protocol { fields, .. },
        ..
    }) = response.observation
    else {
        panic!("the status is news: {response:?}");
    };
    assert_eq!(fields.http_status, Some(200));
}
