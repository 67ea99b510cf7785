"""The end-to-end demo on embedded defaults (`wedperf demo`), as plain functions.

The story, one step at a time, each printed as it happens:

embedded PostgreSQL/Redis -> a local Prefect server -> seed the sandbox platform (and bring a
few weddings into today's day window) -> register every deployment of prefect.yaml ->
calendar sync -> drive wedding-day load at the sandbox app -> collect -> forecast -> plan
(the scheduled runs) -> pre-warm and raise the capacity floor for the next wedding -> watch
the critical path -> fire an Alertmanager alert at the webhook -> the remediation run it
dispatched, executed as a worker would -> the evidence report.

Every database write is a transaction, the evidence package and the summary are written to a
temporary place and renamed, so Ctrl-C at any point leaves nothing half-written.

`command` is `wedperf demo`; `run` the story; `alerting` the webhook and remediation step;
`prefect_server` the local server it starts; `summary` what it prints at the end. Nothing is
imported here, so `wedperf --help` does not load the demo.
"""
