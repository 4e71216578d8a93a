"""The park's demand-response VEN: events from a VTN in, the VPP's answers and delivery out.

:class:`VppAgent` ties an OpenADR 3 VTN (through :class:`~suandian.api.ven_client.VenClient`) to
the virtual power plant's operation of a site (:class:`~suandian.sim.vpp_operation.VppOperation`):

- :meth:`VppAgent.poll` reads the program's events it has not answered yet, turns each into a
  demand-response event (:func:`~suandian.api.openadr_dr.to_dr_event`), lets the operation answer
  it (which re-plans the day when committing) and posts the answer as a report (``answer``);
  an event that does not follow the conventions of docs/openadr.md is answered ``rejected`` with
  the reason, so every event gets an answer; an answer whose report could not be posted is
  posted again at the next poll (the operation is not asked twice). An event changed on the VTN
  after it was answered keeps its first answer (changes are not re-read);
- :meth:`VppAgent.close_day` closes a day in the operation (meter, settle) and posts a
  ``delivery`` report for each settled event: baseline, metered power and delivered power per
  interval, from which the grid operator's side settles on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from suandian.api.openadr_dr import answer_report, delivery_report, to_dr_event
from suandian.core.errors import InputError
from suandian.vpp import EventAnswer

if TYPE_CHECKING:
    from suandian.api.ven_client import VenClient
    from suandian.sim.vpp_operation import DayResult, VppOperation

__all__ = ["AnsweredEvent", "VppAgent"]


@dataclass(frozen=True)
class AnsweredEvent:
    """An event read from the VTN and the answer posted for it."""

    vtn_event_id: str
    answer: EventAnswer
    received_utc: dt.datetime
    report_id: str


@dataclass
class VppAgent:
    """The park's VEN for one program (see the module docstring)."""

    ven: VenClient
    operation: VppOperation
    program_id: str
    client_name: str = "park-vpp"
    answered: dict[str, AnsweredEvent] = field(default_factory=dict)
    delivery_reports: dict[str, str] = field(default_factory=dict)
    """Event id → id of its delivery report."""
    on_answer: Callable[[AnsweredEvent], None] | None = None
    _pending: dict[str, tuple[EventAnswer, dt.datetime, dict[str, Any]]] = field(
        default_factory=dict
    )
    """Answers decided but not yet posted (the post failed)."""

    def poll(self, now_utc: dt.datetime) -> list[AnsweredEvent]:
        """Answer every event of the program not answered yet, as received at ``now_utc``."""
        out: list[AnsweredEvent] = []
        for obj in self.ven.events(self.program_id):
            event_id = str(obj.get("id", ""))
            if event_id in self.answered:
                continue
            if event_id in self._pending:
                out.append(self._post_answer(event_id))
                continue
            out.append(self._answer(obj, now_utc))
        return out

    def _answer(self, obj: dict[str, Any], now_utc: dt.datetime) -> AnsweredEvent:
        event_id = str(obj["id"])
        step = dt.timedelta(minutes=self.operation.resolution_min)
        try:
            event = to_dr_event(obj, received_utc=now_utc, step_min=self.operation.resolution_min)
        except (InputError, OverflowError) as exc:  # a window past the calendar overflows
            answer = EventAnswer(event_id, "rejected", 0.0, f"not a demand-response event: {exc}")
            body = answer_report(
                self.program_id,
                event_id,
                answer,
                direction="reduce",
                client_name=self.client_name,
                start_utc=now_utc,
                duration=step,
            )
        else:
            answer = self.operation.receive(event, now_utc=now_utc)
            body = answer_report(
                self.program_id,
                event_id,
                answer,
                direction=event.direction,
                client_name=self.client_name,
                start_utc=event.start_utc,
                duration=event.end_utc - event.start_utc,
            )
        # Kept before posting: if the post fails, the next poll posts this answer again
        # instead of asking the operation twice.
        self._pending[event_id] = (answer, now_utc, body)
        return self._post_answer(event_id)

    def _post_answer(self, event_id: str) -> AnsweredEvent:
        answer, received, body = self._pending[event_id]
        report = self.ven.post_report(body)
        del self._pending[event_id]
        done = AnsweredEvent(event_id, answer, received, str(report["id"]))
        self.answered[event_id] = done
        if self.on_answer is not None:
            self.on_answer(done)
        return done

    def close_day(self, day: dt.date) -> DayResult:
        """Close ``day`` in the operation and report the delivery of its settled events."""
        result = self.operation.close(day)
        step_min = self.operation.resolution_min
        for settled in result.settled:
            if settled.settlement is None:
                continue
            event = settled.event
            body = delivery_report(
                self.program_id,
                event.event_id,
                settled.settlement,
                client_name=self.client_name,
                interval_starts_utc=event.steps(step_min),
                step_min=step_min,
            )
            self.delivery_reports[event.event_id] = str(self.ven.post_report(body)["id"])
        return result
