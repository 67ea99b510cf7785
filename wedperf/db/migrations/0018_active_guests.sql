-- Per wedding, the calendar sync's known-ahead estimate of its active guests (who will use
-- the app on the day: wedperf.calendar.active_guests) and the counts it came from, read from
-- the app-DB contract's optional guest_engagement view. Counts only, no guest identities.
-- NULL: not known (no view, no guest rows, or the ceremony is not yet within the cutoff);
-- the wedding is then sized by guest_count.
ALTER TABLE perf.weddings
    ADD COLUMN active_guests       integer CHECK (active_guests >= 0),
    ADD COLUMN guests_not_declined integer CHECK (guests_not_declined >= 0),
    ADD COLUMN guests_engaged      integer CHECK (guests_engaged >= 0);
