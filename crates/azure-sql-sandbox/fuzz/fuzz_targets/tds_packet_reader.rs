//! The packet reader: any byte stream a client sends is framed into messages or refused with an
//! error, never a panic, and never more than the size limit buffered.
#![no_main]

use azure_sql_sandbox::tds::packet::MessageReader;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limit: the login limit, or a small one to reach "too large".
    let Some((&limit, mut stream)) = data.split_first() else {
        return;
    };
    let max = if limit & 1 == 0 {
        4096
    } else {
        64 + limit as usize
    };
    runtime().block_on(async {
        let mut reader = MessageReader::new(max);
        while let Ok(Some(message)) = reader.next(&mut stream).await {
            assert!(message.payload.len() <= max);
            let _ = message.reset();
        }
    });
});
