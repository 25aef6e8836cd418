//! The request log's batched insert: rows many to a statement, each counted once.

use super::*;

fn record(id: &str, input_tokens: i64) -> Record {
    Record {
        input_tokens,
        tried: vec![Tried {
            account_id: 7,
            status: Some(529),
            error: "overloaded".into(),
        }],
        ..Record::sample(id)
    }
}

/// (rows, input tokens logged, the rollup's requests and input tokens).
fn totals(c: &Connection) -> (i64, i64, i64, i64) {
    c.query_row(
        "SELECT count(*), sum(input_tokens),
            (SELECT sum(requests) FROM usage_daily), (SELECT sum(input_tokens) FROM usage_daily)
         FROM api_key_request_log",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

#[test]
fn rows_inserted_many_to_a_statement_are_counted_once_however_often_they_come() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("t.db");
    crate::store::migrate::prepare(&path, &tmp.path().join("b")).unwrap();
    let mut c = crate::store::db::open_connection(&path).unwrap();
    seed_sample_key(&c).unwrap();
    let mut write = |records: &[Record]| {
        let tx = c.transaction().unwrap();
        insert(&tx, records).unwrap();
        tx.commit().unwrap();
        totals(&c)
    };
    // 70 rows: two full statements and six alone; each row's input tokens are its number.
    let first: Vec<Record> = (0..70).map(|i| record(&format!("r{i:03}"), i)).collect();
    let sum = |range: std::ops::Range<i64>| range.sum::<i64>();
    assert_eq!(write(&first), (70, sum(0..70), 70, sum(0..70)));
    // A replay of all of them, the newer ones among them, and one id twice within a
    // statement (its first record is the one logged): only the new rows count.
    let mut again: Vec<Record> = first.clone();
    again.insert(40, record("r100", 100));
    again.insert(41, record("r100", 999));
    again.extend((101..130).map(|i| record(&format!("r{i:03}"), i)));
    let expected = sum(0..70) + sum(100..130);
    assert_eq!(write(&again), (100, expected, 100, expected));
    let tried: String = c
        .query_row(
            "SELECT tried FROM api_key_request_log WHERE request_id = 'r050'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(tried.contains("overloaded"), "{tried}");
}
