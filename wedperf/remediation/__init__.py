"""Remediation: playbooks chosen by alert labels, guardrails, verification, escalation."""
