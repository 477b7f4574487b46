use std::fs::OpenOptions;
use std::io::Write;

use super::*;

const MAX: u64 = 64 * 1024 * 1024;

fn payloads(opened: &Opened) -> Vec<Vec<u8>> {
    opened.records.iter().map(|r| r.payload.clone()).collect()
}

#[test]
fn records_come_back_in_order_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, opened) = Spool::open(dir.path(), MAX).unwrap();
        assert_eq!(opened.records.len(), 0);
        let positions: Vec<Position> = spool
            .append(&[b"first", b"second"])
            .into_iter()
            .map(Result::unwrap)
            .collect();
        spool.append(&[b"third"]).into_iter().for_each(|r| {
            r.unwrap();
        });
        assert_eq!(spool.read(positions[1]).unwrap(), b"second");
        assert_eq!(spool.bytes(), 3 * 8 + 5 + 6 + 5);
    }
    let (_spool, opened) = Spool::open(dir.path(), MAX).unwrap();
    assert_eq!(
        payloads(&opened),
        [b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
    );
    assert_eq!(opened.corrupt, 0);
}

#[test]
fn a_cut_short_tail_is_counted_cut_off_and_the_records_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), MAX).unwrap();
        spool.append(&[b"kept"]).into_iter().for_each(|r| {
            r.unwrap();
        });
    }
    let segment = segment_path(dir.path(), 1);
    let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
    drop(file);
    let (spool, opened) = Spool::open(dir.path(), MAX).unwrap();
    assert_eq!(payloads(&opened), [b"kept".to_vec()]);
    assert_eq!(opened.corrupt, 1);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), 8 + 4);
    drop(spool);
    let (_spool, opened) = Spool::open(dir.path(), MAX).unwrap();
    assert_eq!(opened.corrupt, 0, "the cut-off tail is not counted again");
}

#[test]
fn a_record_with_a_bad_checksum_is_skipped_and_the_next_one_still_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut spool, _) = Spool::open(dir.path(), MAX).unwrap();
        spool
            .append(&[b"damaged", b"intact"])
            .into_iter()
            .for_each(|r| {
                r.unwrap();
            });
    }
    let segment = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[8] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let (_spool, opened) = Spool::open(dir.path(), MAX).unwrap();
    assert_eq!(payloads(&opened), [b"intact".to_vec()]);
    assert_eq!(opened.corrupt, 1);
}

#[test]
fn a_record_that_does_not_fit_is_refused_and_the_others_written() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), 8 + 10).unwrap();
    let outcomes = spool.append(&[b"0123456789", b"x"]);
    assert!(outcomes[0].is_ok());
    assert_eq!(
        outcomes[1].as_ref().unwrap_err().to_string(),
        "spool full: 18 of 18 bytes used, 9 more needed"
    );
}

#[test]
fn released_segments_are_deleted_and_a_drained_spool_takes_no_space() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = Spool::open(dir.path(), MAX).unwrap();
    spool.append(&[b"a"]).into_iter().for_each(|r| {
        r.unwrap();
    });
    spool.release_before(None);
    assert_eq!(spool.bytes(), 0);
    assert!(!segment_path(dir.path(), 1).exists());
    let position = spool.append(&[b"b"]).remove(0).unwrap();
    assert_eq!(position.segment, 2, "a new segment after the drained one");
    spool.release_before(Some(2));
    assert_eq!(spool.read(position).unwrap(), b"b");
}

#[test]
fn a_second_server_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Spool::open(dir.path(), MAX).unwrap();
    let second = Spool::open(dir.path(), MAX).err().unwrap();
    assert_eq!(
        second.to_string(),
        format!(
            "spool.dir {} is used by another netmon-server",
            dir.path().display()
        )
    );
}
