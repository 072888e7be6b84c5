//! Prepared statements as Microsoft's ODBC and JDBC drivers use them — `sp_prepexec`,
//! `sp_prepare`, `sp_execute` (with and without `fNoMetaData`), `sp_unprepare` — with the
//! `@handle` RETURNVALUE and NTEXT declarations; and transaction manager requests, through
//! tiberius' `begin_transaction`/`commit_transaction`/`rollback_transaction`.

mod support;

use azure_sql_sandbox::tds::packet::MessageType;
use support::raw::*;
use support::tds::*;

const QUERY: &str = "SELECT first_name FROM dbo.Customer WHERE customer_id = @P1 AND active = @P2";

fn has_text(tokens: &[u8], text: &str) -> bool {
    let t = utf16(text);
    tokens.windows(t.len()).any(|w| w == t)
}

#[tokio::test]
async fn prepexec_then_execute_then_unprepare() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;

    // sp_prepexec: @handle OUTPUT NULL, NTEXT declaration, statement, positional values.
    let prepexec = rpc_by_id(
        13,
        0,
        vec![
            ("", true, Param::Int(None)),
            ("", false, Param::NText("@P1 int,@P2 bit")),
            ("", false, Param::NVarChar(QUERY)),
            ("", false, Param::Int(Some(4))),
            ("", false, Param::Bit(true)),
        ],
    );
    raw.send(MessageType::RPC, &prepexec).await.expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None, "{answer:?}");
    assert!(has_text(&answer, "first_name"), "COLMETADATA");
    assert!(
        answer.windows(5).any(|w| w == [0xD1, 3, 0, b'B', b'o']),
        "Bob's row"
    );
    let handle = returned_int(&answer).expect("the @handle RETURNVALUE");
    let n = answer.len();
    assert_eq!(answer[n - 13], 0xFE, "DONEPROC last");

    // sp_execute the handle with other values, asking for no metadata.
    let execute = rpc_by_id(
        12,
        0x0002,
        vec![
            ("", false, Param::Int(Some(handle))),
            ("", false, Param::Int(Some(1))),
            ("", false, Param::Bit(true)),
        ],
    );
    raw.send(MessageType::RPC, &execute).await.expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None);
    assert_eq!(
        answer[..3],
        [0x81, 0xFF, 0xFF],
        "COLMETADATA without metadata"
    );
    assert!(
        answer
            .windows(6)
            .any(|w| w == [0xD1, 4, 0, b'J', b'o', b'h']),
        "John's row"
    );

    // sp_unprepare, then the handle is gone.
    raw.send(
        MessageType::RPC,
        &rpc_by_id(15, 0, vec![("", false, Param::Int(Some(handle)))]),
    )
    .await
    .expect("send");
    assert_eq!(first_error(&raw.response().await.expect("answer")), None);
    let execute = rpc_by_id(12, 0, vec![("", false, Param::Int(Some(handle)))]);
    raw.send(MessageType::RPC, &execute).await.expect("send");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(8179)
    );
}

#[tokio::test]
async fn a_session_reset_drops_prepared_statements() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let prepare = rpc_by_id(
        11,
        0,
        vec![
            ("", true, Param::Int(None)),
            ("", false, Param::NVarChar("@P1 int,@P2 bit")),
            ("", false, Param::NVarChar(QUERY)),
        ],
    );
    raw.send(MessageType::RPC, &prepare).await.expect("send");
    let handle = returned_int(&raw.response().await.expect("answer")).expect("handle");
    // A pool hands the connection out again: RESETCONNECTION on the next request.
    let execute = rpc_by_id(
        12,
        0,
        vec![
            ("", false, Param::Int(Some(handle))),
            ("", false, Param::Int(Some(1))),
            ("", false, Param::Bit(true)),
        ],
    );
    raw.send_resetting(MessageType::RPC, &execute)
        .await
        .expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(answer[..6], RESET_ACK, "the reset is acknowledged first");
    assert_eq!(
        first_error(&answer),
        Some(8179),
        "the prepared statement is gone"
    );
}

#[tokio::test]
async fn prepare_describes_the_result_set() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    let prepare = rpc_by_id(
        11,
        0,
        vec![
            ("@handle", true, Param::Int(None)),
            ("", false, Param::NVarChar("@P1 int,@P2 bit")),
            ("", false, Param::NVarChar(QUERY)),
        ],
    );
    raw.send(MessageType::RPC, &prepare).await.expect("send");
    let answer = raw.response().await.expect("answer");
    assert_eq!(first_error(&answer), None, "{answer:?}");
    assert_eq!(answer[0], 0x81, "COLMETADATA first");
    assert!(has_text(&answer, "first_name"));
    assert!(!answer.contains(&0xD1), "no rows");
    assert!(answer.contains(&0xAC), "the @handle RETURNVALUE");
}

#[tokio::test]
async fn other_procedures_are_2812() {
    let sandbox = Sandbox::start(false).await;
    let mut raw = logged_in(&sandbox).await;
    raw.send(MessageType::RPC, &rpc_by_id(2, 0, vec![]))
        .await
        .expect("send");
    assert_eq!(
        first_error(&raw.response().await.expect("answer")),
        Some(2812)
    );
}

#[tokio::test]
async fn transaction_manager_requests() {
    let sandbox = Sandbox::start(false).await;
    let mut client = sandbox.admin().await;

    let err = client
        .commit_transaction()
        .await
        .expect_err("nothing to commit");
    assert_eq!(server_error(&err).map(|e| e.0), Some(3902));
    let err = client
        .rollback_transaction()
        .await
        .expect_err("nothing to roll back");
    assert_eq!(server_error(&err).map(|e| e.0), Some(3903));

    // Begin, write, roll back: the write is undone.
    client.begin_transaction().await.expect("begin");
    client
        .execute(
            "INSERT INTO dbo.Customer (first_name, last_name, active) VALUES (@P1, @P2, @P3)",
            &[&"Eve", &"Adams", &true],
        )
        .await
        .expect("insert");
    assert_eq!(customer_ids(&mut client).await.expect("read").len(), 6);
    client.rollback_transaction().await.expect("rollback");
    assert_eq!(customer_ids(&mut client).await.expect("read").len(), 5);

    // Begin, write, commit.
    client.begin_transaction().await.expect("begin");
    client
        .execute(
            "INSERT INTO dbo.Customer (first_name, last_name, active) VALUES (@P1, @P2, @P3)",
            &[&"Eve", &"Adams", &true],
        )
        .await
        .expect("insert");
    client.commit_transaction().await.expect("commit");
    assert_eq!(customer_ids(&mut client).await.expect("read").len(), 6);
    let err = client
        .commit_transaction()
        .await
        .expect_err("no transaction");
    assert_eq!(server_error(&err).map(|e| e.0), Some(3902));
}
