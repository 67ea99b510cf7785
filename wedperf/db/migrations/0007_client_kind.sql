-- Client kind: which kind of client observed a sample — the iOS app, the Android
-- app, the web app — or 'unknown' when the source cannot tell.
--
-- perf.samples.client is an attribute, NOT part of the natural key. Every source's `series`
-- already tells its clients apart (a Prometheus series is its whole label set, the client
-- label included; a probe series is the probe target, and a target has one client profile; a
-- RUM series names the client and the beacon), so (source, metric, operation, series, ts)
-- stays unique and re-collecting a window stays harmless. Keeping the key also means no
-- primary-key rebuild on every day partition and no change to the ON CONFLICT targets.
--
-- Existing rows become 'unknown': nothing recorded which client saw them (the sandbox probes
-- and the app-DB rows are not any end-user client). Adding a column with a constant default
-- is a catalogue change only (no rewrite). The CHECK constraints are added NOT VALID: every
-- existing row holds the default, which satisfies them, so scanning every partition under
-- an exclusive lock would prove nothing. New rows and new partitions are checked.
-- (`ALTER TABLE ... VALIDATE CONSTRAINT` may be run later at leisure.)
ALTER TABLE perf.samples ADD COLUMN client text NOT NULL DEFAULT 'unknown';
ALTER TABLE perf.samples ADD CONSTRAINT samples_client_check
    CHECK (client IN ('ios', 'android', 'web', 'unknown')) NOT VALID;

-- A RUM beacon names its wedding itself: attributed_by 'beacon'.
ALTER TABLE perf.samples DROP CONSTRAINT samples_attributed_by_check;
ALTER TABLE perf.samples ADD CONSTRAINT samples_attributed_by_check
    CHECK (attributed_by IN ('label', 'url', 'row', 'window', 'beacon')) NOT VALID;

-- Rollups per client group. 'all' is every sample whatever its client (what every rollup row
-- meant before, so existing rows are 'all'); 'mobile' is ios + android together (a p95 cannot
-- be combined from per-kind p95s, so it is computed from the samples); 'ios', 'android' and
-- 'web' per kind. There is no 'unknown' group: it would repeat 'all' wherever no source knows
-- its clients. Readers that want the pre-0007 meaning filter client = 'all'.
ALTER TABLE perf.rollups_minute ADD COLUMN client text NOT NULL DEFAULT 'all'
    CHECK (client IN ('all', 'mobile', 'ios', 'android', 'web'));
ALTER TABLE perf.rollups_minute DROP CONSTRAINT rollups_minute_key;
ALTER TABLE perf.rollups_minute ADD CONSTRAINT rollups_minute_key
    UNIQUE NULLS NOT DISTINCT (minute, operation, wedding_id, client);
