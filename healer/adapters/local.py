"""Approver and notifier for a healer with no chat integration configured.

Approval requests are written to the log and answered from the command line
(`healer approve` / `healer reject`), which stores the answer the next poll reads.
"""

from __future__ import annotations

import logging

from healer.domain.model import Decision, Incident, Plan, TimelineEvent

log = logging.getLogger("healer.events")


class CommandLineApprover:
    def request(self, incident: Incident, plan: Plan, decision: Decision) -> None:
        log.warning(
            "approval needed for %s: %s on %s %s (%s; %s); answer with "
            "`healer approve %s --by NAME` or `healer reject %s --by NAME`",
            incident.id,
            plan.playbook,
            plan.target,
            dict(plan.params),
            decision.reason,
            plan.track_record or "no track record",
            incident.id,
            incident.id,
        )


class LogNotifier:
    def notify(self, incident: Incident, event: TimelineEvent) -> None:
        log.info("%s %s %s", incident.id, event.kind, event.summary)
