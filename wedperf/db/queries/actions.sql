-- name: record_action
-- One step of a planned run or remediation; a retry of the same step overwrites it.
INSERT INTO perf.actions
    (plan_id, kind, target, before, after, reason, wedding_ids, dry_run, outcome, detail)
VALUES (%(plan_id)s, %(kind)s, %(target)s, %(before)s, %(after)s, %(reason)s,
        %(wedding_ids)s, %(dry_run)s, %(outcome)s, %(detail)s)
ON CONFLICT (plan_id, kind, target) DO UPDATE SET
    before = EXCLUDED.before, after = EXCLUDED.after, reason = EXCLUDED.reason,
    wedding_ids = EXCLUDED.wedding_ids, dry_run = EXCLUDED.dry_run,
    outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, acted_at = now();

-- name: target_state
-- The remembered baseline and last floor of a capacity target.
SELECT baseline, floor, changed_at FROM perf.capacity_state WHERE target = %(target)s;

-- name: raised_targets
-- Targets whose floor is raised now (a baseline is kept until the restore).
SELECT target FROM perf.capacity_state WHERE baseline IS NOT NULL ORDER BY target;

-- name: remember_raise
-- After a raise: keep the first pre-raise floor as baseline, note the new floor.
INSERT INTO perf.capacity_state AS s (target, baseline, floor, changed_at)
VALUES (%(target)s, %(before)s, %(after)s, now())
ON CONFLICT (target) DO UPDATE SET
    baseline = coalesce(s.baseline, EXCLUDED.baseline),
    floor = EXCLUDED.floor,
    changed_at = now();

-- name: remember_restore
-- After a restore: no raise in force any more.
INSERT INTO perf.capacity_state AS s (target, baseline, floor, changed_at)
VALUES (%(target)s, NULL, %(after)s, now())
ON CONFLICT (target) DO UPDATE SET baseline = NULL, floor = EXCLUDED.floor, changed_at = now();

-- name: acted_since
-- Whether a step of this kind ended `done` on this target after `since` (a remediation's
-- cooldown); served by actions_target_idx (target, acted_at).
SELECT EXISTS (
    SELECT 1 FROM perf.actions
    WHERE kind = %(kind)s AND target = %(target)s AND outcome = 'done' AND acted_at > %(since)s
);
