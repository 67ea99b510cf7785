-- perf.actions: every step wedperf took or planned, and whether one was done lately.

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

-- name: acted_since
-- Whether a step of one of these kinds ended `done` on this target after `since` (a
-- remediation's cooldown); served by actions_target_idx (target, acted_at).
SELECT EXISTS (
    SELECT 1 FROM perf.actions
    WHERE kind = ANY(%(kinds)s) AND target = %(target)s AND outcome = 'done' AND acted_at > %(since)s
);

-- name: recorded_step
-- The step a run recorded (its natural key), so a repeated run can tell what it did.
SELECT outcome, before, after, reason FROM perf.actions
WHERE plan_id = %(plan_id)s AND kind = %(kind)s AND target = %(target)s;

-- name: last_step_of
-- The newest step of these kinds on the target (served by actions_target_idx).
SELECT outcome, reason FROM perf.actions
WHERE target = %(target)s AND kind = ANY(%(kinds)s)
ORDER BY acted_at DESC, action_id DESC LIMIT 1;
