"""Everything that registers itself when imported: each domain's spreadsheet kinds (with the
import engine) and its flows (handlers on the hooks of earlier domains, see app/core/hooks.py).

Importing this module wires the service; ``create_app``, the demo loader and the command line
do, so no entry point can run a service with a hook left without its handler."""

from app.applications import importers as applications_importers
from app.bases import importers as bases_importers
from app.credits import flows as credits_flows
from app.credits import importers as credits_importers
from app.exams import flows as exams_flows
from app.exams import importers as exams_importers
from app.funding import flows as funding_flows
from app.funding import importers as funding_importers
from app.reconciliation import importers as reconciliation_importers
from app.reference import importers as reference_importers
from app.trainings import importers as trainings_importers

REGISTERED = (
    reference_importers,
    applications_importers,
    trainings_importers,
    bases_importers,
    exams_importers,
    exams_flows,
    credits_importers,
    credits_flows,
    funding_importers,
    funding_flows,
    reconciliation_importers,
)
"""The modules imported for what they register."""
