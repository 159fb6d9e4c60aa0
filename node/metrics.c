/* metrics.c: Prometheus text exposition (format 0.0.4) of the daemon's counters. */
#include "node/daemon.h"
#include "node/work.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

static void
metric(struct evbuffer *b, const char *name, const char *type, const char *help, uint64_t v)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name,
	    type, name, v);
}

#define C(name, field, help) \
	metric(b, name, "counter", help, (uint64_t)atomic_load(&n->m.field))

/* A counter of microseconds, exposed in seconds (Prometheus' base unit). */
static void
seconds(struct evbuffer *b, const char *name, const char *help, uint64_t us)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 ".%06" PRIu64 "\n",
	    name, help, name, name, us / 1000000, us % 1000000);
}

#define S(name, field, help) seconds(b, name, help, (uint64_t)atomic_load(&n->m.field))

void
metrics_render(struct node *n, struct evbuffer *b)
{
	struct db_stats st;

	C("p2p_stores_total", stores, "Versions stored through this node.");
	C("p2p_store_bytes_total", store_bytes, "Bytes of content stored through this node.");
	C("p2p_store_errors_total", store_errors, "Stores that failed.");
	C("p2p_gets_total", gets, "Completed gets served.");
	C("p2p_get_bytes_total", get_bytes, "Bytes of content served by gets.");
	C("p2p_get_errors_total", get_errors, "Gets aborted (missing chunk or client gone).");
	C("p2p_chunks_verified_total", chunks_verified,
	    "Chunks read back and checked against their hash before being served.");
	C("p2p_chunk_verify_failures_total", chunk_verify_failures,
	    "Chunks found corrupt (bytes do not match the name) when read.");
	C("p2p_deletes_total", deletes, "Deletes (tombstones written) through this node.");
	C("p2p_commit_batches_total", commit_batches,
	    "Group commits (one sync and one transaction each).");
	S("p2p_commit_seconds_total", commit_us,
	    "Time the committer thread spent in group commits, all included.");
	S("p2p_commit_wal_seconds_total", commit_wal_us,
	    "Of which writing the commits' pages to the WAL and syncing it.");
	C("p2p_checkpoint_stalls_total", ckpt_stalls,
	    "Checkpoints the committer ran itself (the WAL's last pages, so that it restarts).");
	S("p2p_checkpoint_stall_seconds_total", ckpt_stall_us,
	    "Time the committer spent in them, committing nothing.");
	C("p2p_checkpoints_total", ckpts, "Checkpoint passes of the checkpointer thread.");
	S("p2p_checkpoint_seconds_total", ckpt_us,
	    "Time the checkpointer thread spent in them (copies and database syncs).");
	C("p2p_gc_chunks_total", gc_chunks, "Unreferenced chunks collected.");
	C("p2p_gc_runs_total", gc_runs, "Garbage-collection passes.");
	C("p2p_orphans_removed_total", orphans_removed,
	    "Chunk files without a database row removed at start-up.");
	C("p2p_http_requests_total", http_requests, "Control API requests.");
	C("p2p_repl_bytes_sent_total", repl_bytes_sent,
	    "Chunk bytes sent to peers (replicas pushed, chunks served).");
	C("p2p_repl_bytes_received_total", repl_bytes_received,
	    "Chunk bytes received from peers (replicas, fetched chunks).");
	C("p2p_repl_chunks_pushed_total", repl_chunks_pushed,
	    "Replicas of new versions sent to placement holders.");
	C("p2p_repl_chunks_received_total", repl_chunks_received,
	    "Replicas received, verified, made durable and acknowledged.");
	C("p2p_repl_chunks_fetched_total", repl_chunks_fetched,
	    "Chunks fetched from peers, verified and stored.");
	C("p2p_repl_push_failures_total", repl_push_failures,
	    "Replicas refused by a peer (no space, error).");
	C("p2p_repl_fetch_failures_total", repl_fetch_failures,
	    "Chunks no reachable peer could provide.");
	C("p2p_repl_bad_chunks_total", repl_bad_chunks,
	    "Chunks a peer sent with other bytes or reported corrupt.");
	C("p2p_repl_repairs_total", repl_repairs,
	    "Chunks fetched by the repair scan to restore their replica count.");
	C("p2p_repl_files_applied_total", repl_files_applied,
	    "Versions and tombstones received from peers and recorded.");
	C("p2p_repl_conflicts_total", repl_conflicts,
	    "Concurrent versions kept under a conflict name.");
	C("p2p_repl_ae_files_sent_total", repl_ae_files_sent,
	    "FILEs sent to answer a DIGEST whose buckets differed (anti-entropy).");
	metric(b, "p2p_repl_lag_ms", "gauge",
	    "Age of the last remote version when it was recorded here (replication lag).",
	    (uint64_t)atomic_load(&n->m.repl_lag_ms));
	metric(b, "p2p_uploads_active", "gauge", "Open upload sessions.", n->nuploads);
	metric(b, "p2p_gets_active", "gauge", "Gets being streamed.", n->gets_active);
	metric(b, "p2p_pins", "gauge", "Chunks pinned by in-flight stores and gets.",
	    store_pin_count(n->store));
	metric(b, "p2p_uptime_seconds", "gauge", "Seconds since the daemon started.",
	    (uint64_t)((wall_ms() - n->started_ms) / 1000));
	memset(&st, 0, sizeof st);
	if (db_stats(n->db, &st, NULL) == 0) {
		metric(b, "p2p_files", "gauge", "Files with a live version.", st.files);
		metric(b, "p2p_tombstones", "gauge", "Deleted keys remembered.", st.tombstones);
		metric(b, "p2p_file_bytes", "gauge", "Sum of the live versions' sizes.", st.bytes);
		metric(b, "p2p_chunks", "gauge", "Chunks held on this node (deduplicated).",
		    st.chunks);
		metric(b, "p2p_chunk_bytes", "gauge", "Bytes of chunks held on this node.",
		    st.chunk_bytes);
		metric(b, "p2p_peers_known", "gauge", "Peers in the peer table.", st.peers);
	}
}
