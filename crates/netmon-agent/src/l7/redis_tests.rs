use proptest::prelude::*;

use super::*;
use crate::l7::test_samples;

fn command(name: &str, inline: bool) -> Result<RedisCommand, RedisError> {
    Ok(RedisCommand {
        name: name.into(),
        inline,
    })
}

#[test]
fn redis_cli_commands_are_recognised() {
    assert_eq!(
        parse_command(test_samples::REDIS_PING),
        command("PING", false)
    );
    assert_eq!(
        parse_command(test_samples::REDIS_SET),
        command("SET", false)
    );
    assert_eq!(
        parse_command(test_samples::REDIS_COMMAND_DOCS),
        command("COMMAND", false)
    );
    assert_eq!(
        parse_command(b"*3\r\n$8\r\njson.set\r\n$1\r\nk\r\n$1\r\n$\r\n"),
        command("JSON.SET", false)
    );
}

#[test]
fn a_few_inline_commands_are_recognised() {
    assert_eq!(parse_command(b"PING\r\n"), command("PING", true));
    assert_eq!(parse_command(b"ping\n"), command("PING", true));
    assert_eq!(
        parse_command(b"INFO replication\r\n"),
        command("INFO", true)
    );
}

#[test]
fn other_text_protocols_are_not_redis() {
    for line in [
        &b"QUIT\r\n"[..],
        b"EHLO mail.test\r\n",
        b"USER anonymous\r\n",
        b"GET / HTTP/1.1\r\n",
        b"PING",
        b"hello\n",
        b"SSH-2.0-OpenSSH_9.2\r\n",
    ] {
        assert!(
            parse_command(line).is_err(),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn malformed_arrays_are_refused() {
    let refused: [&[u8]; 6] = [
        b"*0\r\n",
        b"*1\r\n$0\r\n\r\n",
        b"*1\r\n$4\r\n1ING\r\n",
        b"*1\r\n$3\r\nPING\r\n",
        b"*1\n$4\nPING\n",
        b"*x\r\n",
    ];
    for bytes in refused {
        assert!(
            parse_command(bytes).is_err(),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn every_cut_of_a_command_is_that_command_or_an_error() {
    for sample in [test_samples::REDIS_PING, test_samples::REDIS_SET] {
        let whole = parse_command(sample).unwrap();
        for cut in 0..=sample.len() {
            if let Ok(cmd) = parse_command(&sample[..cut]) {
                assert_eq!(cmd, whole, "cut at {cut}");
            }
        }
    }
}

#[test]
fn replies_of_every_type_are_recognised() {
    let replies: [&[u8]; 12] = [
        b"+PONG\r\n",
        b"+OK\r\n",
        b"-ERR unknown command 'FOO'\r\n",
        b":1000\r\n",
        b":-1\r\n",
        b"$5\r\nvalue\r\n",
        b"$-1\r\n",
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"%7\r\n$6\r\nserver\r\n",
        b"_\r\n",
        b"#t\r\n",
        b",3.14\r\n",
    ];
    for reply in replies {
        assert!(is_reply(reply), "{}", String::from_utf8_lossy(reply));
    }
}

#[test]
fn non_replies_are_refused() {
    let refused: [&[u8]; 7] = [
        b"",
        b"+OK",
        b":12a\r\n",
        b"$\r\n",
        b"#x\r\n",
        b"220 mail ESMTP\r\n",
        b"+bad\x01\r\n",
    ];
    for bytes in refused {
        assert!(!is_reply(bytes), "{}", String::from_utf8_lossy(bytes));
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(cmd) = parse_command(&bytes) {
            prop_assert!(cmd.name.len() <= 32);
        }
        let _ = is_reply(&bytes);
    }
}
