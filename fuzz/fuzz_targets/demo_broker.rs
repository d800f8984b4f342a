//! The demo's MQTT broker (`demo::broker`): up to four clients, one after the other, on one
//! broker, each sending arbitrary bytes (the input split at `NEXT`), so that later clients meet
//! the earlier ones' retained messages and wills. Each client's bytes are sent, its sending side
//! closed, and everything the broker answers is read.
//!
//! Beyond "no panic": every connection ends once its client's bytes are used up (no hang), and
//! the broker's first answer to anything is a CONNACK or nothing at all.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunfill::demo::broker::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn clients(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < 3 {
        match rest.windows(4).position(|w| w == b"NEXT") {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + 4..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        let broker = Broker::default();
        for bytes in clients(data) {
            let (client, server) = tokio::io::duplex(1 << 16);
            let (mut rd, mut wr) = tokio::io::split(client);
            let talk = async {
                let _ = wr.write_all(bytes).await;
                let _ = wr.shutdown().await;
                let mut answer = Vec::new();
                let _ = rd.read_to_end(&mut answer).await;
                answer
            };
            let served = broker.serve(server, "fuzz");
            // The broker's own 10 s CONNECT timeout never matters: the input ends first.
            let (answer, ()) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
                tokio::join!(talk, served)
            })
            .await
            .expect("the connection did not end after its input");
            if let Some(first) = answer.first() {
                assert_eq!(first >> 4, 2, "the first answer is not a CONNACK: {answer:?}");
            }
        }
    });
});
