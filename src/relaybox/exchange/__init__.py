"""Use cases: the only place the route API's business rules live."""
