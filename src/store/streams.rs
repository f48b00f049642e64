//! The writers' streams of fold keys, which tell the fold (and every reader) which events
//! are folded into the per-user rollups and which are not yet, and the fold's lock.

use sqlx::PgConnection;

/// Bits of a `fold_key` that number the events of one stream.
pub(crate) const SEQ_BITS: u32 = 40;

/// A writer's stream of events: every event it writes gets the next `fold_key`, `stream <<
/// 40 | seq`. A writer writes one transaction at a time on one connection, so within a stream
/// the keys commit in order: once the fold has seen a key committed, every smaller key of that
/// stream has either committed or never will, and the fold can keep how far it got per stream
/// (`ingest_streams.folded_through`) instead of marking each event. A writer takes a new stream
/// on every connection (a batch whose commit was cut off cannot then overtake the next one).
#[derive(Debug)]
pub struct FoldStream {
    stream: i64,
    seq: i64,
    pub started: std::time::Instant,
}

impl FoldStream {
    /// The next key of the stream; `None` once it is used up (take a new stream).
    pub fn next_key(&mut self) -> Option<i64> {
        if self.seq + 1 >= 1 << SEQ_BITS {
            return None;
        }
        self.seq += 1;
        Some((self.stream << SEQ_BITS) | self.seq)
    }

    /// Keys left in the stream.
    pub fn room(&self) -> i64 {
        (1 << SEQ_BITS) - 1 - self.seq
    }
}

/// Registers a new stream of events for a writer.
pub async fn new_stream(conn: &mut PgConnection) -> sqlx::Result<FoldStream> {
    let stream: i64 =
        sqlx::query_scalar!("insert into ingest_streams default values returning stream")
            .fetch_one(conn)
            .await?;
    Ok(FoldStream {
        stream,
        seq: 0,
        started: std::time::Instant::now(),
    })
}

/// The events not folded into `user_metrics` yet, as `e` (all columns of `events`), for the
/// streams as `s`: per stream, the keys after the last one folded (an index range scan).
/// `filter` narrows them (`and …`), `limit` bounds each stream's share.
pub(crate) fn unfolded_events(filter: &str, limit: &str) -> String {
    format!(
        "ingest_streams s cross join lateral (
             select * from events
             where {} {filter}
             order by fold_key {limit}
             offset 0
         ) e",
        after_progress()
    )
}

/// The events of stream `s` after its progress: the keys of the stream above the last one
/// folded.
pub(super) fn after_progress() -> String {
    format!(
        "fold_key > (s.stream << {SEQ_BITS}) + s.folded_through
         and fold_key < ((s.stream + 1) << {SEQ_BITS})"
    )
}

/// Key of the advisory lock a fold holds: one fold at a time across all replicas.
pub const FOLD_LOCK: i64 = 0x7665_7264_6963_7401;

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream's keys carry the stream in their high bits and count up from 1 below them.
    #[test]
    fn fold_keys_count_up_within_their_stream() {
        let mut s = FoldStream {
            stream: 3,
            seq: 0,
            started: std::time::Instant::now(),
        };
        assert_eq!(s.next_key(), Some((3 << 40) + 1));
        assert_eq!(s.next_key(), Some((3 << 40) + 2));
        s.seq = (1 << 40) - 2;
        assert_eq!(s.room(), 1);
        assert_eq!(s.next_key(), Some((4 << 40) - 1));
        assert_eq!(
            s.next_key(),
            None,
            "the next key would be the next stream's"
        );
    }
}
