#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use herald_ce::{AttrValue, Data, Event, SpecVersion, decode_record, encode_record};

fn events() -> Vec<Event> {
    let minimal = Event::new("", "", "");
    let mut full = Event::new("id-1", "https://example.com/src", "dev.knative.t");
    full.datacontenttype = Some("application/json".into());
    full.dataschema = Some("https://schema".into());
    full.subject = Some("sübject".into());
    full.time = Some("2020-01-01T00:00:00Z".into());
    let values = [
        ("s", AttrValue::String("x".into())),
        ("empty", AttrValue::String(String::new())),
        ("imin", AttrValue::Integer(i64::MIN)),
        ("imax", AttrValue::Integer(i64::MAX)),
        ("ineg", AttrValue::Integer(-1)),
        ("t", AttrValue::Boolean(true)),
        ("f", AttrValue::Boolean(false)),
        ("bin", AttrValue::Binary(vec![0, 255, 128])),
        ("nobin", AttrValue::Binary(vec![])),
        ("u", AttrValue::Uri("https://u".into())),
        ("r", AttrValue::UriRef("/r".into())),
        ("ts", AttrValue::Timestamp("2020-01-01T00:00:00.1Z".into())),
        ("Invalid Name", AttrValue::String("kept anyway".into())),
    ];
    for (k, v) in values {
        full.set_extension(k, v);
    }
    let mut out = vec![minimal, full.clone()];
    let datas = [
        Data::Binary(Bytes::from_static(b"\x00\xff")),
        Data::Binary(Bytes::new()),
        Data::Json("{\"a\": 1}".into()),
        Data::Text("text ✓".into()),
        Data::Text(String::new()),
    ];
    for d in datas {
        out.push(Event {
            data: Some(d),
            ..full.clone()
        });
    }
    let mut v03 = full;
    v03.specversion = SpecVersion::V03;
    v03.data = Some(Data::Binary(Bytes::from(vec![7u8; 300])));
    out.push(v03);
    out
}

#[test]
fn round_trips_exactly() {
    for ev in events() {
        let mut buf = Vec::new();
        encode_record(&ev, &mut buf);
        assert_eq!(buf[0], 1, "format version byte");
        assert_eq!(decode_record(&buf).unwrap(), ev);
    }
}

#[test]
fn appends_to_buffer() {
    let evs = events();
    let mut buf = vec![0xAA];
    encode_record(&evs[1], &mut buf);
    assert_eq!(decode_record(&buf[1..]).unwrap(), evs[1]);
}

#[test]
fn truncated_and_trailing_are_errors() {
    for ev in events() {
        let mut buf = Vec::new();
        encode_record(&ev, &mut buf);
        for n in 0..buf.len() {
            assert!(
                decode_record(&buf[..n]).is_err(),
                "prefix {n} of {}",
                buf.len()
            );
        }
        buf.push(0);
        assert!(decode_record(&buf).is_err(), "trailing byte");
    }
}

#[test]
fn garbage_never_panics() {
    let cases: &[&[u8]] = &[
        b"",
        b"\x02",
        b"\x01\x05",
        b"\x01\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x01\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80",
        b"\x01\x01\x01\xff",
    ];
    for c in cases {
        assert!(decode_record(c).is_err(), "{c:?}");
    }
    // Flip every bit of a full record, and feed pseudo-random bytes: errors or values, never panics.
    let mut buf = Vec::new();
    encode_record(&events()[1], &mut buf);
    for i in 0..buf.len() * 8 {
        let mut m = buf.clone();
        m[i / 8] ^= 1 << (i % 8);
        let _ = decode_record(&m);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in 0..2000usize {
        let bytes: Vec<u8> = (0..len % 97)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut with_header = vec![1, 1];
        with_header.extend_from_slice(&bytes);
        let _ = decode_record(&bytes);
        let _ = decode_record(&with_header);
    }
}
