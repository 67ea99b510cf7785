-- Where each alert's remediation stands. NULL: not remediated (yet).
-- awaiting_approval: paused for a person (a disruptive action during a ceremony);
-- deferred: rescheduled after a ceremony window; rejected: the approver said no;
-- recovered / escalated: verification after acting; no_playbook: nothing configured for it.
ALTER TABLE perf.alerts
    ADD COLUMN remediation_state text CHECK (remediation_state IN (
        'running', 'awaiting_approval', 'deferred', 'rejected', 'recovered', 'escalated',
        'no_playbook', 'not_needed')),
    ADD COLUMN remediation_note text;
