"""Demo data: what ``make run`` loads into a new database so a newcomer sees every domain working.

Each domain adds its own step to ``STEPS`` (in order); a step gets a session and the demo
context and writes through the domain's own services, so the demo obeys every rule.
"""
