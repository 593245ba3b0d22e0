"""The ``responses=`` declarations routers repeat, so the OpenAPI lists each route's problems.

GET of one row → 404; POST creating one → 409 (a natural key taken, a reference in a state that
forbids it); PATCH/PUT with ``If-Match`` → 404, 409, 412; a workflow action or DELETE → 404, 409.
"""

from app.core.errors import problem_responses

GET_RESPONSES = problem_responses(404)
CREATE_RESPONSES = problem_responses(409)
WRITE_RESPONSES = problem_responses(404, 409, 412)
ACTION_RESPONSES = problem_responses(404, 409)
DELETE_RESPONSES = problem_responses(404, 409)
