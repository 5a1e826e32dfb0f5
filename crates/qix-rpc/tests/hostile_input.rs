//! Frames a broken or hostile peer could send: each one is a typed error (or, where the frame is
//! well-formed JSON-RPC, a decoded value), never a panic, a stack overflow or a blow-up.

use qix_rpc::{decode, Changes, DecodeError, Incoming, Request, ResponseBody};

fn bad_member(frame: &str) -> &'static str {
    match decode(frame) {
        Err(DecodeError::BadMember { member, .. }) => member,
        other => panic!("expected BadMember for {frame}, got {other:?}"),
    }
}

fn assert_not_json(frame: &str) {
    assert!(
        matches!(decode(frame), Err(DecodeError::NotJson(_))),
        "{frame:?}: {:?}",
        decode(frame)
    );
    assert!(
        matches!(Request::decode(frame), Err(DecodeError::NotJson(_))),
        "{frame:?}"
    );
}

fn raw_result(frame: &str) -> String {
    match decode(frame) {
        Ok(Incoming::Response(response)) => match response.body {
            ResponseBody::Result(raw) => raw.get().to_owned(),
            ResponseBody::Error(error) => panic!("error body {error:?}"),
        },
        other => panic!("expected a response for {frame}, got {other:?}"),
    }
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    let mut text = String::with_capacity(depth * (open.len() + close.len()));
    for _ in 0..depth {
        text.push_str(open);
    }
    for _ in 0..depth {
        text.push_str(close);
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Not JSON, not an object (Q-REQ-6)

#[test]
fn q_req_6_text_that_is_not_json_is_not_json() {
    for frame in [
        "",
        "   ",
        "{",
        "}",
        r#"{"id":1"#,
        r#"{"id":1,}"#,
        "{'id':1}",
        "{id:1}",
        "nul",
        "hello",
        r#"{"id":1} trailing"#,
        "{}{}",
        r#"{"a":"\x"}"#,
        "{\"a\":\"line\nbreak\"}",
        "\u{feff}{}",
        "{\"a\":01}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
    ] {
        assert_not_json(frame);
    }
}

#[test]
fn q_req_6_json_that_is_not_an_object_names_its_kind() {
    for (frame, kind) in [
        ("[]", "an array"),
        ("[1,{\"id\":1}]", "an array"),
        (" \n\t[1]", "an array"),
        ("\"frame\"", "a string"),
        ("1", "a number"),
        ("-1.5e3", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
        ("false", "a boolean"),
    ] {
        assert_eq!(
            decode(frame),
            Err(DecodeError::NotAnObject(kind)),
            "{frame}"
        );
        assert_eq!(
            Request::decode(frame),
            Err(DecodeError::NotAnObject(kind)),
            "{frame}"
        );
        assert!(decode(frame).unwrap_err().to_string().contains(kind));
    }
}

#[test]
fn q_req_6_whitespace_around_an_object_is_allowed() {
    assert_eq!(
        decode(" \r\n\t{\"change\":[1]} \n"),
        Ok(Incoming::Message(qix_rpc::Changes {
            change: vec![1],
            close: vec![]
        }))
    );
}

#[test]
fn q_req_6_error_messages_do_not_repeat_the_frame() {
    let secret = "SECRET-TOKEN-0123456789";
    for frame in [
        format!(r#"{{"id":"{secret}"}}"#),
        format!(r#"{{"id":1,"error":"{secret}"}}"#),
        format!(r#"{{"method":["{secret}"],"params":{{}}}}"#),
        format!(r#"{{"jsonrpc":"{secret}"}}"#),
        format!(r#"{{"id":1, {secret}"#),
        format!(r#"["{secret}"]"#),
    ] {
        let error = decode(&frame).unwrap_err().to_string();
        assert!(!error.contains(secret), "{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Wrong member types

#[test]
fn id_must_be_a_non_negative_integer_within_u64() {
    for id in [
        "\"1\"",
        "1.5",
        "1.0",
        "1e3",
        "-1",
        "-9223372036854775809",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1e400",
        "true",
        "[1]",
        "{}",
    ] {
        assert_eq!(
            bad_member(&format!(r#"{{"id":{id},"result":{{}}}}"#)),
            "id",
            "id {id}"
        );
        assert!(matches!(
            Request::decode(&format!(r#"{{"id":{id},"handle":1,"method":"M"}}"#)),
            Err(DecodeError::BadMember { member: "id", .. })
        ));
    }
}

#[test]
fn every_id_within_u64_is_read_as_serde_json_reads_it() {
    for id in [
        "0",
        "7",
        "1234567890123456789",
        "9999999999999999999",
        "18446744073709551615",
    ] {
        let want: u64 = serde_json::from_str(id).unwrap();
        match decode(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)) {
            Ok(Incoming::Response(response)) => assert_eq!(response.id, want, "id {id}"),
            other => panic!("id {id}: {other:?}"),
        }
    }
}

#[test]
fn change_and_close_must_be_arrays_of_i32() {
    for member in ["change", "close"] {
        for value in [
            "[\"1\"]",
            "[2147483648]",
            "[-2147483649]",
            "[1.5]",
            "[1e400]",
            "[123456789012345678901234567890]",
            "[null]",
            "[[1]]",
            "\"1,2\"",
            "1",
            "{}",
            "true",
        ] {
            assert_eq!(
                bad_member(&format!(r#"{{"{member}":{value}}}"#)),
                member,
                "{value}"
            );
            assert_eq!(
                bad_member(&format!(r#"{{"id":1,"result":{{}},"{member}":{value}}}"#)),
                member
            );
        }
    }
    // The i32 bounds themselves are fine.
    let frame = r#"{"change":[2147483647,-2147483648],"close":[-1,0]}"#;
    let Ok(Incoming::Message(changes)) = decode(frame) else {
        panic!("{frame}")
    };
    assert_eq!(changes.change, vec![i32::MAX, i32::MIN]);
    assert_eq!(changes.close, vec![-1, 0]);
}

#[test]
fn delta_must_be_a_boolean() {
    for value in ["\"true\"", "1", "0", "[]", "{}"] {
        assert_eq!(
            bad_member(&format!(r#"{{"id":1,"result":{{}},"delta":{value}}}"#)),
            "delta"
        );
    }
}

#[test]
fn error_must_be_an_object_of_code_parameter_message() {
    for value in [
        "\"boom\"",
        "5",
        "true",
        "[]",
        r#"[2,"param","message"]"#,
        r#"{"code":"2"}"#,
        r#"{"code":1.5}"#,
        r#"{"code":2147483648}"#,
        r#"{"code":1e400}"#,
        r#"{"code":null}"#,
        r#"{"parameter":5}"#,
        r#"{"message":["x"]}"#,
        r#"{"code":1,"code":2}"#,
    ] {
        assert_eq!(
            bad_member(&format!(r#"{{"id":1,"error":{value}}}"#)),
            "error",
            "{value}"
        );
    }
}

#[test]
fn method_must_be_a_string() {
    assert_eq!(bad_member(r#"{"method":5,"params":{}}"#), "method");
    assert_eq!(bad_member(r#"{"method":{},"params":{}}"#), "method");
}

#[test]
fn jsonrpc_must_be_the_string_2_0() {
    for value in [
        "\"1.0\"",
        "\"2.00\"",
        "\"\"",
        "2.0",
        "2",
        "null",
        "[\"2.0\"]",
    ] {
        assert_eq!(
            bad_member(&format!(r#"{{"jsonrpc":{value},"id":1,"result":1}}"#)),
            "jsonrpc"
        );
    }
    // An escaped spelling is the same string.
    assert!(decode(r#"{"jsonrpc":"2\u002e0","id":1,"result":1}"#).is_ok());
}

#[test]
fn result_and_error_together_are_rejected() {
    assert_eq!(
        decode(r#"{"id":1,"result":{},"error":{"code":1}}"#),
        Err(DecodeError::ResultAndError)
    );
    assert_eq!(
        decode(r#"{"id":1,"result":null,"error":{}}"#),
        Err(DecodeError::ResultAndError)
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicate members

#[test]
fn duplicate_members_the_codec_reads_are_rejected_by_name() {
    for (frame, name) in [
        (r#"{"id":1,"id":2,"result":1}"#, "id"),
        (r#"{"id":null,"id":1,"result":1}"#, "id"),
        (r#"{"id":1,"result":1,"result":2}"#, "result"),
        (r#"{"id":1,"error":{},"error":null}"#, "error"),
        (r#"{"change":[1],"change":[2]}"#, "change"),
        (r#"{"close":[],"foo":0,"close":[]}"#, "close"),
        (r#"{"method":"A","method":"B","params":{}}"#, "method"),
        (r#"{"params":{},"params":[]}"#, "params"),
        (r#"{"delta":true,"delta":true}"#, "delta"),
        (r#"{"jsonrpc":"2.0","jsonrpc":"2.0"}"#, "jsonrpc"),
        (r#"{"id":1,"\u0069d":2}"#, "id"),
    ] {
        assert_eq!(
            decode(frame),
            Err(DecodeError::DuplicateMember(name.to_owned())),
            "{frame}"
        );
    }
}

#[test]
fn request_decode_rejects_any_duplicate_member() {
    for (frame, name) in [
        (r#"{"id":1,"id":2,"handle":1,"method":"M"}"#, "id"),
        (r#"{"id":1,"handle":1,"handle":1,"method":"M"}"#, "handle"),
        (r#"{"id":1,"handle":1,"method":"M","method":"N"}"#, "method"),
        (
            r#"{"id":1,"handle":1,"method":"M","params":[],"params":[]}"#,
            "params",
        ),
        (
            r#"{"id":1,"handle":1,"method":"M","delta":true,"delta":false}"#,
            "delta",
        ),
        (
            r#"{"id":1,"handle":1,"method":"M","foo":1,"bar":2,"foo":3}"#,
            "foo",
        ),
        (r#"{"id":1,"handle":1,"method":"M","":1,"":2}"#, ""),
        (r#"{"id":1,"handle":1,"method":"M","x":1,"\u0078":2}"#, "x"),
    ] {
        assert_eq!(
            Request::decode(frame),
            Err(DecodeError::DuplicateMember(name.to_owned())),
            "{frame}"
        );
    }
}

#[test]
fn repeated_unknown_members_are_ignored_like_any_unknown_member() {
    let Ok(Incoming::Message(changes)) = decode(r#"{"foo":1,"foo":2,"change":[3],"":0,"":1}"#)
    else {
        panic!("not a message")
    };
    assert_eq!(changes.change, vec![3]);
    assert_eq!(
        raw_result(r#"{"suspend":[1],"id":7,"suspend":[2],"result":true}"#),
        "true"
    );
}

#[test]
fn duplicate_members_inside_result_are_the_engines_business() {
    // Only the top level is the codec's; the result stays raw text.
    assert_eq!(
        raw_result(r#"{"id":1,"result":{"a":1,"a":2}}"#),
        r#"{"a":1,"a":2}"#
    );
}

#[test]
fn duplicate_member_error_quotes_at_most_64_bytes_of_the_name() {
    let long = "k".repeat(100_000);
    let frame = format!(r#"{{"id":1,"handle":1,"method":"M","{long}":1,"{long}":2}}"#);
    let Err(DecodeError::DuplicateMember(name)) = Request::decode(&frame) else {
        panic!("no duplicate error")
    };
    assert!(name.starts_with("kkkk"));
    assert!(name.len() <= 64 + '…'.len_utf8(), "{}", name.len());
    assert!(Request::decode(&frame).unwrap_err().to_string().len() < 200);
    // Cutting never splits a character.
    let wide = "é".repeat(100);
    let frame = format!(r#"{{"id":1,"handle":1,"method":"M","{wide}":1,"{wide}":2}}"#);
    let Err(DecodeError::DuplicateMember(name)) = Request::decode(&frame) else {
        panic!("no duplicate error")
    };
    assert!(name.ends_with('…'));
    assert!(name.trim_end_matches('…').chars().all(|c| c == 'é'));
}

#[test]
fn a_repeat_after_many_unknown_members_is_found() {
    let mut frame = String::from(r#"{"id":1,"#);
    for index in 0..100_000 {
        frame.push_str(&format!("\"m{index}\":{index},"));
    }
    frame.push_str(r#""id":2,"result":1}"#);
    assert_eq!(
        decode(&frame),
        Err(DecodeError::DuplicateMember("id".to_owned()))
    );
    let mut request = String::from(r#"{"id":1,"handle":1,"method":"M","#);
    for index in 0..100_000 {
        request.push_str(&format!("\"m{index}\":{index},"));
    }
    request.push_str(r#""m77777":0}"#);
    assert_eq!(
        Request::decode(&request),
        Err(DecodeError::DuplicateMember("m77777".to_owned()))
    );
}

#[test]
fn a_million_unknown_members_decode_to_a_plain_message() {
    let mut frame = String::with_capacity(8_000_000);
    frame.push('{');
    for _ in 0..1_000_000 {
        frame.push_str(r#""":0,"#);
    }
    frame.push_str(r#""close":[5]}"#);
    assert_eq!(
        decode(&frame),
        Ok(Incoming::Message(Changes {
            change: vec![],
            close: vec![5]
        }))
    );
}

#[test]
fn not_json_wins_over_an_earlier_bad_member() {
    // The whole frame is checked for syntax before any member's error is reported.
    assert_not_json(r#"{"id":"x","handle":"y","method":1, oops}"#);
    assert_not_json(r#"{"id":1,"id":2,"result":"#);
}

// ---------------------------------------------------------------------------------------------
// Nesting and size

#[test]
fn hundred_thousand_open_brackets_are_an_error_not_a_stack_overflow() {
    let opens = "[".repeat(100_000);
    assert_not_json(&opens);
    assert_not_json(&"{".repeat(100_000));
    assert_not_json(&format!(r#"{{"id":1,"result":{opens}"#));
    assert_not_json(&format!(r#"{{"params":{opens}}}"#));
    assert_not_json(&format!(
        r#"{{"id":1,"handle":1,"method":"M","params":{opens}}}"#
    ));
}

#[test]
fn deeply_nested_closed_arrays_at_the_top_are_not_an_object() {
    assert_eq!(
        decode(&nested(100_000, "[", "]")),
        Err(DecodeError::NotAnObject("an array"))
    );
}

#[test]
fn deeply_nested_result_stays_raw_without_recursion() {
    let deep = nested(100_000, "[", "]");
    assert_eq!(
        raw_result(&format!(r#"{{"id":1,"result":{deep}}}"#)).len(),
        deep.len()
    );
    let objects = nested(50_000, r#"{"a":"#, "}").replace(r#"{"a":}"#, r#"{"a":1}"#);
    let frame = format!(r#"{{"params":{objects}}}"#);
    let Ok(Incoming::Notification(notification)) = decode(&frame) else {
        panic!("not a notification")
    };
    assert_eq!(notification.params.get().len(), objects.len());
}

#[test]
fn deeply_nested_members_the_codec_parses_are_bad_members() {
    let deep = nested(100_000, "[", "]");
    assert_eq!(bad_member(&format!(r#"{{"change":{deep}}}"#)), "change");
    assert_eq!(bad_member(&format!(r#"{{"id":{deep},"result":1}}"#)), "id");
    assert_eq!(
        bad_member(&format!(r#"{{"id":1,"error":{{"code":{deep}}}}}"#)),
        "error"
    );
    // A request's params are parsed into a value: serde_json's depth limit answers.
    assert!(matches!(
        Request::decode(&format!(
            r#"{{"id":1,"handle":1,"method":"M","params":{deep}}}"#
        )),
        Err(DecodeError::BadMember {
            member: "params",
            ..
        })
    ));
    assert!(matches!(
        Request::decode(&format!(
            r#"{{"id":1,"handle":1,"method":"M","cont":{deep}}}"#
        )),
        Err(DecodeError::BadMember { .. })
    ));
}

#[test]
fn deeply_nested_unknown_members_are_skipped_without_recursion() {
    let deep = nested(100_000, "[", "]");
    assert_eq!(
        raw_result(&format!(r#"{{"id":1,"result":0,"data":{deep}}}"#)),
        "0"
    );
    let frame = format!(r#"{{"id":1,"error":{{"code":2,"data":{deep}}}}}"#);
    let Ok(Incoming::Response(response)) = decode(&frame) else {
        panic!("not a response")
    };
    assert!(matches!(response.body, ResponseBody::Error(ref error) if error.code == 2));
}

#[test]
fn huge_numbers_in_raw_members_stay_text() {
    assert_eq!(raw_result(r#"{"id":1,"result":1e400}"#), "1e400");
    assert_eq!(
        raw_result(r#"{"id":1,"result":{"qReturn":123456789012345678901234567890}}"#),
        r#"{"qReturn":123456789012345678901234567890}"#
    );
}

#[test]
fn huge_numbers_in_request_params_are_bad_members() {
    assert!(matches!(
        Request::decode(r#"{"id":1,"handle":1,"method":"M","params":[1e400]}"#),
        Err(DecodeError::BadMember {
            member: "params",
            ..
        })
    ));
    assert!(matches!(
        Request::decode(r#"{"id":1,"handle":2147483648000,"method":"M"}"#),
        Err(DecodeError::BadMember {
            member: "handle",
            ..
        })
    ));
}

#[test]
fn a_million_handles_in_change_decode() {
    let mut frame = String::from(r#"{"change":["#);
    for handle in 0..1_000_000 {
        frame.push_str(&handle.to_string());
        frame.push(',');
    }
    frame.push_str("-1]}");
    let Ok(Incoming::Message(changes)) = decode(&frame) else {
        panic!("not a message")
    };
    assert_eq!(changes.change.len(), 1_000_001);
    assert_eq!(changes.change.last(), Some(&-1));
}

// ---------------------------------------------------------------------------------------------
// Strings: escapes, lone surrogates, non-ASCII

#[test]
fn lone_surrogates_in_raw_members_are_kept_as_text() {
    for escape in [
        r"\ud800",
        r"\udc00",
        r"\udc00\ud800",
        r"\ud800x",
        r"\ud800\u0041",
    ] {
        let frame = format!(r#"{{"id":1,"result":"{escape}"}}"#);
        assert_eq!(raw_result(&frame), format!("\"{escape}\""));
        let frame = format!(r#"{{"method":"M","params":["{escape}"]}}"#);
        assert!(
            matches!(decode(&frame), Ok(Incoming::Notification(_))),
            "{frame}"
        );
    }
}

#[test]
fn lone_surrogates_in_parsed_strings_are_errors_not_panics() {
    for escape in [r"\ud800", r"\udc00", r"\udc00\ud800", r"\ud800x"] {
        assert_eq!(
            bad_member(&format!(r#"{{"method":"{escape}","params":{{}}}}"#)),
            "method",
            "{escape}"
        );
        assert_eq!(
            bad_member(&format!(r#"{{"jsonrpc":"{escape}"}}"#)),
            "jsonrpc"
        );
        assert_eq!(
            bad_member(&format!(r#"{{"id":1,"error":{{"message":"{escape}"}}}}"#)),
            "error"
        );
        // A member name with a lone surrogate cannot become a Rust string at all.
        assert_not_json(&format!(r#"{{"{escape}":1}}"#));
    }
}

#[test]
fn a_valid_surrogate_pair_and_other_unicode_decode() {
    let frame = r#"{"method":"On\ud83d\ude00","params":{"é":"ü"}}"#;
    let Ok(Incoming::Notification(notification)) = decode(frame) else {
        panic!("{frame}")
    };
    assert_eq!(notification.method.as_deref(), Some("On😀"));
    assert_eq!(notification.params.get(), r#"{"é":"ü"}"#);
}

#[test]
fn request_decode_rejects_lone_surrogates_in_method_and_params() {
    assert!(matches!(
        Request::decode(r#"{"id":1,"handle":1,"method":"\ud800"}"#),
        Err(DecodeError::BadMember {
            member: "method",
            ..
        })
    ));
    assert!(matches!(
        Request::decode(r#"{"id":1,"handle":1,"method":"M","params":["\udc00"]}"#),
        Err(DecodeError::BadMember {
            member: "params",
            ..
        })
    ));
}
