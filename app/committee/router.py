"""HTTP for the expert advisory committee: experts and meetings."""

from app.committee import models, service
from app.core.roles import OFFICE
from app.core.routes import Routes, domain_router

experts_router = domain_router("/experts", "committee")
meetings_router = domain_router("/meetings", "committee")

experts = Routes(
    experts_router,
    models.ExpertPublic,
    id_name="expert_id",
    read=service.EXPERTS.one,
    noun="专家",
    writers=OFFICE,
)
experts.list(
    service.EXPERTS,
    """The committee's experts by name, with how many meetings each attended. The office,
    auditors (leadership group, experts) and admins read them.""",
)
experts.create(
    models.ExpertCreate,
    service.create_expert,
    "Add an expert to the committee (academic office).",
)
experts.get(
    """One expert with its `ETag`; the office, auditors (leadership group, experts) and admins
    read it, every other role is 403."""
)
experts.update(
    models.ExpertUpdate, service.update_expert, "Change an expert (academic office; `If-Match`)."
)
experts.delete(
    service.delete_expert,
    "Delete an expert who attended no meeting (409 otherwise: set `active` false).",
)

# --- meetings --------------------------------------------------------------------------------

meetings = Routes(
    meetings_router,
    models.MeetingPublic,
    id_name="meeting_id",
    read=service.MEETINGS.one,
    noun="专家例会",
    writers=OFFICE,
)
meetings.list(
    service.MEETINGS,
    "The committee's meetings, newest first, with attendees, minutes and decisions.",
)
meetings.create(
    models.MeetingCreate,
    service.create_meeting,
    """Record a meeting with its attendees (experts), minutes and decisions, each with an
    owner and a due date (academic office).""",
)
meetings.get(
    """One meeting with its attendees, minutes and decisions; the office, auditors and admins
    read it, every other role is 403."""
)
meetings.update(
    models.MeetingUpdate,
    service.update_meeting,
    """Change a meeting (academic office; `If-Match`). `attendee_ids` and `decisions`, when
    sent, replace the whole list (e.g. to mark a decision done).""",
)
meetings.delete(
    service.delete_meeting, "Delete a meeting with its attendance and decisions (academic office)."
)
