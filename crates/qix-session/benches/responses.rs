//! Throughput of the response path: N calls pending on an open machine, then their N responses
//! decoded and handed in, effects drained. Plain std timing; run with `cargo bench -p qix-session`.
//!
//! Handling one response costs one decode and one hash-map lookup; the result payload is a span
//! of the frame's bytes from the decoded frame to the reply, never copied.

use std::hint::black_box;
use std::time::{Duration, Instant};

use qix_rpc::{Bytes, EncodedCall};
use qix_session::{Call, Command, Config, Effect, Input, Machine, Reply, Waiter};

const RESPONSES: u64 = 100_000;
const ROUNDS: usize = 5;

/// The bench measures wall time, so it reads the clock the machine itself never reads.
#[allow(clippy::disallowed_methods)]
fn clock() -> Instant {
    Instant::now()
}

fn drain(machine: &mut Machine) -> usize {
    let mut effects = 0;
    while let Some(effect) = machine.poll_effect() {
        black_box(&effect);
        effects += 1;
    }
    effects
}

/// An open machine with `RESPONSES` calls on Global waiting for their answers.
fn machine_with_pending_calls(now: Instant) -> (Machine, qix_session::ConnId) {
    let mut machine = Machine::new(Config::default());
    machine.handle(
        Input::Command {
            waiter: Waiter(0),
            command: Command::Open,
        },
        now,
    );
    let Some(Effect::Connect { conn }) = machine.poll_effect() else {
        panic!("open asks for a connection");
    };
    machine.handle(Input::Connected { conn }, now);
    let mut global = None;
    while let Some(effect) = machine.poll_effect() {
        if let Effect::Reply {
            reply: Reply::Opened(info),
            ..
        } = effect
        {
            global = Some(info.key);
        }
    }
    let global = global.expect("open replies Global");
    for waiter in 1..=RESPONSES {
        let call = Call {
            object: global,
            call: EncodedCall::new("GetLayout", &[(); 0]).expect("a plain call"),
            timeout: None,
            returns_object: false,
            accepts_delta: false,
        };
        machine.handle(
            Input::Command {
                waiter: Waiter(waiter),
                command: Command::Call(call),
            },
            now,
        );
        drain(&mut machine);
    }
    assert_eq!(machine.pending_calls(), RESPONSES as usize);
    (machine, conn)
}

fn main() {
    let frames: Vec<Bytes> = (1..=RESPONSES)
        .map(|id| {
            Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"qLayout":{{"qInfo":{{"qId":"chart-{id}","qType":"barchart"}},"qSelectionInfo":{{}},"title":"Sales per region"}}}}}}"#
            ))
        })
        .collect();
    let bytes: usize = frames.iter().map(Bytes::len).sum();

    let mut decode_only = Duration::MAX;
    let mut full = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = clock();
        for frame in &frames {
            black_box(qix_rpc::decode_shared(black_box(frame.clone())).is_ok());
        }
        decode_only = decode_only.min(start.elapsed());

        let now = clock();
        let (mut machine, conn) = machine_with_pending_calls(now);
        let start = clock();
        let mut effects = 0;
        for frame in &frames {
            let decoded = qix_rpc::decode_shared(frame.clone());
            machine.handle(Input::Frame { conn, decoded }, now);
            effects += drain(&mut machine);
        }
        full = full.min(start.elapsed());
        assert_eq!(machine.pending_calls(), 0);
        assert_eq!(
            effects,
            2 * RESPONSES as usize,
            "traffic + reply per response"
        );
    }

    let per = |total: Duration| total.as_nanos() as f64 / RESPONSES as f64;
    println!(
        "qix-session responses: {RESPONSES} responses ({:.0} bytes each), best of {ROUNDS} rounds",
        bytes as f64 / RESPONSES as f64
    );
    println!(
        "  decode + handle + drain: {:>8.0} ns/response, {:>10.0} inputs/s",
        per(full),
        RESPONSES as f64 / full.as_secs_f64()
    );
    println!(
        "  decode alone:            {:>8.0} ns/response",
        per(decode_only)
    );
    println!(
        "  the machine's share:     {:>8.0} ns/response",
        per(full) - per(decode_only)
    );
}
