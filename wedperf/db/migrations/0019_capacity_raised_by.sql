-- Who set the raised floor now in force on a capacity target: the step kind of the raise
-- (capacity_raise, nowcast_raise, scale_up); NULL when no raise is in force (a restore
-- clears it) or for a raise recorded before this column existed. A step restores only what
-- its kind may restore (the nowcast only a floor it raised itself).
ALTER TABLE perf.capacity_state ADD COLUMN raised_by text;
