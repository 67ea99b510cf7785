-- perf.capacity_state: each capacity target's remembered pre-raise baseline and last floor.

-- name: target_state
-- The remembered baseline and last floor of a capacity target.
SELECT baseline, floor, changed_at, raised_by FROM perf.capacity_state WHERE target = %(target)s;

-- name: raised_targets
-- Targets whose floor is raised now (a baseline is kept until the restore).
SELECT target FROM perf.capacity_state WHERE baseline IS NOT NULL ORDER BY target;

-- name: remember_raise
-- Before a raise (its intent, committed before the write, so a raise is never in force
-- without a restore owed): keep the first pre-raise floor as baseline, note the new floor
-- and who set it (with keep_raiser, a raiser already in force stays: the nowcast's raise
-- over a planned one leaves it the planned restore's); changed_at is the step's own instant
-- when it gives one (its clock).
INSERT INTO perf.capacity_state AS s (target, baseline, floor, changed_at, raised_by)
VALUES (%(target)s, %(before)s, %(after)s, coalesce(%(at)s, now()), %(by)s)
ON CONFLICT (target) DO UPDATE SET
    baseline = coalesce(s.baseline, EXCLUDED.baseline),
    floor = EXCLUDED.floor,
    changed_at = EXCLUDED.changed_at,
    raised_by = CASE WHEN %(keep_raiser)s THEN coalesce(s.raised_by, EXCLUDED.raised_by)
                     ELSE EXCLUDED.raised_by END;

-- name: remember_restore
-- After a restore (or when the floor is someone else's now): no raise in force any more.
INSERT INTO perf.capacity_state AS s (target, baseline, floor, changed_at, raised_by)
VALUES (%(target)s, NULL, %(after)s, coalesce(%(at)s, now()), NULL)
ON CONFLICT (target) DO UPDATE SET
    baseline = NULL, floor = EXCLUDED.floor, changed_at = EXCLUDED.changed_at, raised_by = NULL;

-- name: utilisation_state
-- The remembered baseline and last target utilisation (percent) wedperf set on a target.
SELECT baseline, utilisation, changed_at FROM perf.capacity_utilisation WHERE target = %(target)s;

-- name: lowered_targets
-- Targets whose target utilisation is lowered now (a baseline is kept until the restore).
SELECT target FROM perf.capacity_utilisation WHERE baseline IS NOT NULL ORDER BY target;

-- name: remember_lower
-- Before a lowering (its intent, committed before the write, so a lowering is never in force
-- without a restore owed): keep the first pre-lowering value as baseline, note the new value.
INSERT INTO perf.capacity_utilisation AS s (target, baseline, utilisation, changed_at)
VALUES (%(target)s, %(before)s, %(after)s, now())
ON CONFLICT (target) DO UPDATE SET
    baseline = coalesce(s.baseline, EXCLUDED.baseline),
    utilisation = EXCLUDED.utilisation,
    changed_at = now();

-- name: remember_utilisation_restore
-- After a restore (or when the value is someone else's now): no lowering in force.
INSERT INTO perf.capacity_utilisation AS s (target, baseline, utilisation, changed_at)
VALUES (%(target)s, NULL, %(after)s, now())
ON CONFLICT (target) DO UPDATE SET
    baseline = NULL, utilisation = EXCLUDED.utilisation, changed_at = now();

-- name: forget_lowering
-- The value is someone else's (or the lowering never happened): no restore owed; the value
-- seen is noted when there is one.
UPDATE perf.capacity_utilisation
SET baseline = NULL, utilisation = coalesce(%(current)s, utilisation), changed_at = now()
WHERE target = %(target)s;
