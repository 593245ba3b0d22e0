"""Import kinds of the exams: ``exam-registrations``, ``exam-results`` and
``issued-certificates``."""
