#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Breaks the test server on purpose, one change-stream feature at a time, and checks that
# the test meant to guard that feature fails; restores the file after each case. A manual
# check of the tests themselves (not run by CI):
#   python3 tests/mongod-lite/test/break-changestream.py [BUILD_DIR] [case numbers...]
# BUILD_DIR defaults to ./build (configured with -Dtests=enabled). Prints CAUGHT or MISSED.
import subprocess, sys, os
W=os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
L=W+'/tests/mongod-lite/'
B=os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].isdigit() else W+'/build'
def run_c(binary, flt, replset=True):
    # run-live.sh's replica-set mode: --replset rs0 --enable-test-commands, replicaSet=rs0.
    env=dict(os.environ, MONGOD_LITE=L+'server.js', MONGOLOCK_TEST_MODE='replset' if replset else 'standalone')
    env.pop('MONGOLOCK_TEST_URI', None)
    p=subprocess.run([W+'/tests/run-live.sh', B+'/tests/'+binary, '--filter', flt], env=env, capture_output=True, text=True, timeout=600)
    return p.returncode, (p.stderr+p.stdout)
def run_js():
    p=subprocess.run(['node', L+'test/changestream.test.js'], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout+p.stderr
cases=[
 ('delete hook removed (TTL + delete events)', 'lib/store.js', "    this.db.changed({ op: 'delete', coll: this, doc });\n", "", ('live-conf-changestream-events','cs_events/ttl_deletes_are_delete_events')),
 ('replacement not passed from findAndModify', 'lib/commands.js', "coll.replaceDoc(target, next, { kind: updatePlan.kind, u: body.update });", "coll.replaceDoc(target, next);", ('live-conf-changestream-events','cs_events/every_write_path_is_an_event')),
 ('replacement kind not passed from update', 'lib/commands.js', "coll.replaceDoc(doc, next, { kind, u });", "coll.replaceDoc(doc, next);", ('live-conf-changestream-events','cs_events/insert_update_replace_delete_shapes')),
 ('no-op update makes an event', 'lib/changestream.js', "      if (same(ev.before, ev.after)) return; // a no-op update writes no oplog entry\n", "", None),
 ('upsert insert not an event', 'lib/store.js', "    this.db.changed({ op: 'insert', coll: this, doc });\n", "    if (!doc.v) this.db.changed({ op: 'insert', coll: this, doc });\n", ('live-conf-changestream-events','cs_events/every_write_path_is_an_event')),
 ('no invalidate after drop', 'lib/changestream.js', "    return (stream.type === 'collection' && e.op === 'drop') ||", "    return false && (stream.type === 'collection' && e.op === 'drop') ||", ('live-conf-changestream-events','cs_events/drop_ends_the_stream_with_invalidate')),
 ('dropDatabase not seen by database streams', 'lib/store.js', "    d.changed({ op: 'dropDatabase', db: dbName });\n", "", ('live-conf-changestream-events','cs_events/drop_database_invalidates_collection_and_database_streams')),
 ('$push reports the whole array', 'lib/changedesc.js', "    if (op === '$push' &&", "    if (false &&", ('live-conf-changestream-events','cs_events/insert_update_replace_delete_shapes')),
 ('missing parent reported as the leaf', 'lib/changedesc.js', "    for (let i = 1; i <= parts.length; i++) {", "    for (let i = parts.length + 1; i <= parts.length; i++) {", ('live-conf-changestream-events','cs_events/a_field_set_through_a_missing_parent_reports_the_parent')),
 ('no truncatedArrays', 'lib/changedesc.js', "    out.truncated.push({ field: path, newSize: V.mkInt(post.length) });", "    void 0;", ('live-conf-changestream-events','cs_events/pipeline_update_reports_a_diff_with_truncated_arrays')),
 ('user stages ignored', 'lib/changestream.js', "      if (s.plan) docs = s.plan.run(docs, { now: ctx.now, vars: s.vars });", "", ('live-conf-changestream-events','cs_events/match_and_project_apply_to_events')),
 ('_id may be removed', 'lib/changestream.js', "        if (!V.isPlainObject(d._id) || !same(d._id, token)) {", "        if (false) {", ('live-conf-changestream-events','cs_events/removing_the_resume_token_fails_280')),
 ('updateLookup gives the stored post-image', 'lib/changestream.js', "        ev.fullDocument = doc ? V.deepClone(doc) : null;", "        ev.fullDocument = doc ? V.deepClone(doc) : {};", ('live-conf-changestream-events','cs_events/full_document_modes')),
 ('cluster stream sees only one db', 'lib/changestream.js', "    return !INTERNAL_DBS.has(e.db);", "    return e.db === 'admin';", ('live-conf-changestream-events','cs_events/database_and_cluster_streams')),
 ('getMore does not wait', 'lib/changestream.js', "    if (first.cursor.nextBatch.length > 0 || c.stream.done || awaitMs <= 0) return first;", "    return first;", ('live-conf-changestream-cursor','cs_cursor/get_more_waits_for_the_next_event_and_no_longer')),
 ('getMore waits the full time', 'lib/changestream.js', "        if (r.cursor.nextBatch.length > 0 || c.stream.done || Date.now() >= deadline) return finish(() => r);", "        if (false) return finish(() => r);", ('live-conf-changestream-cursor','cs_cursor/get_more_waits_for_the_next_event_and_no_longer')),
 ('no postBatchResumeToken', 'lib/changestream.js', "      return { cursor: { nextBatch: batch, postBatchResumeToken: c.stream.pbrt.token,", "      return { cursor: { nextBatch: batch,", ('live-conf-changestream-cursor','cs_cursor/aggregate_opens_a_tailable_cursor')),
 ('resumeAfter repeats the token event', 'lib/changestream.js', "          if (s.invalidatePending) break;\n          continue;", "          if (s.invalidatePending) break;", ('live-conf-changestream-cursor','cs_cursor/resume_after_start_after_and_start_at_operation_time')),
 ('PBRT is always a high-water mark', 'lib/changestream.js', "      if (docs.length) s.pbrt = { ts, token };", "      if (docs.length) s.pbrt = { ts, token: makeToken({ ts, event: false }) };", ('live-conf-changestream-cursor','cs_cursor/post_batch_resume_token_resumes_after_the_batch')),
 ('startAtOperationTime exclusive', 'lib/changestream.js', "      startTs = tsFromBson(spec.startAtOperationTime);", "      startTs = tsFromBson(spec.startAtOperationTime) + 1n;", ('live-conf-changestream-cursor','cs_cursor/resume_after_start_after_and_start_at_operation_time')),
 ('resumeAfter an invalidate accepted', 'lib/changestream.js', "    if (spec.resumeAfter && token.fromInvalidate) {", "    if (false) {", ('live-conf-changestream-cursor','cs_cursor/start_after_an_invalidate_but_not_resume_after')),
 ('no 286', 'lib/changestream.js', "    if (startTs < this.floorTs) {", "    if (false) {", ('live-conf-changestream-cursor','cs_cursor/bad_tokens_and_lost_history')),
 ('bad _data type is 260', 'lib/changestream.js', "    throw new MongoError(40647,", "    throw new MongoError(260,", ('live-conf-changestream-cursor','cs_cursor/bad_tokens_and_lost_history')),
 ('$group allowed after $changeStream', 'lib/changestream.js', "const ALLOWED_STAGES = new Set(['$match',", "const ALLOWED_STAGES = new Set(['$group', '$sort', '$match',", ('live-conf-changestream-cursor','cs_cursor/bad_specs_and_stages')),
 ('unknown spec fields ignored', 'lib/changestream.js', "      if (!SPEC_FIELDS.has(k)) throw", "      if (false) throw", ('live-conf-changestream-cursor','cs_cursor/bad_specs_and_stages')),
 ('killCursors leaves stream cursors', 'lib/commands.js', "      if (cur && cur.ns === ns) {\n        this.cursors.delete(id);", "      if (cur && cur.ns === ns) {\n        if (!cur.stream) this.cursors.delete(id);", ('live-conf-changestream-cursor','cs_cursor/kill_cursors_ends_a_stream')),
 ('standalone streams allowed', 'lib/changestream.js', "  get enabled() { return this.repl.isReplSet; }", "  get enabled() { return true; }", ('live-conf-changestream-cursor','cs_cursor/standalone_refuses_with_40573', False)),
 ('driver resume loses the token (resumeAfter ignored)', 'lib/changestream.js', "      if (token.event) after = token;", "      startTs = this.latestTs() + 1n;", ('live-conf-changestream-driver','cs_driver/resumes_after_the_server_lost_the_cursor')),
 ('replies out of order while waiting', 'server.js', "  while (!conn.busy && conn.queue.length", "  while (conn.queue.length", 'js'),
 ('filtered events set PBRT to their token', 'lib/changestream.js', "      if (docs.length) s.pbrt = { ts, token };", "      s.pbrt = { ts, token };", 'js'),
 ('a write ticks the clock again after its events', 'lib/dispatch.js', "      if (!ticked) this.repl.tick();", "      this.repl.tick();", ('live-conf-changestream-cursor','cs_cursor/write_operation_time_is_its_last_events_cluster_time')),
 ('history unbounded', 'lib/changestream.js', "    let drop = Math.max(0, this.log.length - this.history);", "    let drop = 0;", 'js'),
]
only = [a for a in sys.argv[1:] if a.isdigit()]
for i, (name, f, old, new, t) in enumerate(cases):
    if only and str(i) not in only: continue
    path = L+f
    src = open(path).read()
    assert src.count(old) == 1, (name, old)
    open(path,'w').write(src.replace(old, new))
    try:
        if t is None:
            rc, out = run_c('live-conf-changestream-events', 'cs_events/every_write_path_is_an_event')
        elif t == 'js':
            rc, out = run_js()
        else:
            rc, out = run_c(t[0], t[1], t[2] if len(t) > 2 else True)
    finally:
        open(path,'w').write(src)
    fail = [l for l in out.splitlines() if 'FAIL' in l or 'not ok' in l or 'Assertion' in l]
    print(f"{i:2d} {'CAUGHT' if rc != 0 else 'MISSED'}: {name} :: {(fail[0] if fail else out[-200:]).strip()[:150]}", flush=True)
