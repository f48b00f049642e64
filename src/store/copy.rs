//! Events written with binary `COPY`: the encoder of PostgreSQL's binary tuple format for
//! the `events` columns.

use super::events::EventRow;
use serde_json::Value;
use sqlx::PgConnection;

/// The columns `copy` writes, in the order of its tuples (`received_at` takes its default,
/// `idempotency_key` stays null).
// Not `query!`: a `COPY` is streamed with `copy_in_raw`, which the query macros do not cover.
const COPY_EVENTS: &str = "copy events (id, experiment_id, tenant_id, user_id, assignment_id,
    variant, event_type, quality, latency_ms, tokens_used, cost, user_satisfaction,
    custom_metrics, insight_id, conversation_id, intent, scope, ts, fold_key)
    from stdin (format binary)";
const COPY_FIELDS: i16 = 19;
/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Bytes buffered before a chunk goes to the server (it parses while the rest is encoded).
const COPY_CHUNK: usize = 1 << 20;

/// Writes events that carry no idempotency key with binary `COPY` (no conflict is possible:
/// ids are fresh UUIDv7s), in the caller's transaction. Much cheaper for the server than an
/// `INSERT` of the same rows: it parses no arrays and writes the heap in multi-row batches.
/// Returns the number of rows written.
pub async fn copy(conn: &mut PgConnection, rows: &[EventRow<'_>]) -> sqlx::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut copy = conn.copy_in_raw(COPY_EVENTS).await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for r in rows {
        debug_assert!(r.draft.idempotency_key.is_none());
        encode_row(&mut buf, r);
        if buf.len() >= COPY_CHUNK {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes()); // trailer
    copy.send(buf.as_slice()).await?;
    copy.finish().await
}

/// One tuple of binary `COPY`: a field count, then each field as its length and bytes
/// (length -1: null).
fn encode_row(buf: &mut Vec<u8>, r: &EventRow<'_>) {
    fn bytes(buf: &mut Vec<u8>, b: &[u8]) {
        buf.extend_from_slice(&(b.len() as i32).to_be_bytes());
        buf.extend_from_slice(b);
    }
    fn null(buf: &mut Vec<u8>) {
        buf.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn text(buf: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => bytes(buf, s.as_bytes()),
            None => null(buf),
        }
    }
    fn float(buf: &mut Vec<u8>, x: Option<f64>) {
        match x {
            Some(x) => bytes(buf, &x.to_be_bytes()),
            None => null(buf),
        }
    }
    /// jsonb: a version byte (1), then the JSON text.
    fn jsonb(buf: &mut Vec<u8>, m: &serde_json::Map<String, Value>) {
        if m.is_empty() {
            bytes(buf, b"\x01{}");
            return;
        }
        let at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.push(1);
        serde_json::to_writer(&mut *buf, m).expect("a JSON map serialises");
        let len = (buf.len() - at - 4) as i32;
        buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    let d = r.draft;
    buf.extend_from_slice(&COPY_FIELDS.to_be_bytes());
    bytes(buf, r.id.as_bytes());
    bytes(buf, d.experiment_id.as_bytes());
    text(buf, Some(&d.tenant_id));
    text(buf, Some(&d.user_id));
    bytes(buf, r.assignment_id.as_bytes());
    text(buf, Some(r.variant));
    text(buf, Some(d.event_type.as_str()));
    float(buf, d.quality);
    float(buf, d.latency_ms);
    match d.tokens_used {
        Some(t) => bytes(buf, &t.to_be_bytes()),
        None => null(buf),
    }
    float(buf, d.cost);
    text(buf, d.satisfaction.map(|s| s.as_str()));
    jsonb(buf, &d.custom);
    text(buf, d.insight_id.as_deref());
    text(buf, d.conversation_id.as_deref());
    text(buf, d.intent.as_deref());
    match &d.scope {
        Some(s) => jsonb(buf, s),
        None => null(buf),
    }
    let micros = d.timestamp.timestamp_micros() - PG_EPOCH_MICROS;
    bytes(buf, &micros.to_be_bytes());
    bytes(buf, &r.fold_key.to_be_bytes());
}
