"""The solver, private: one fit (problem, start grid, polish) and many at once (batch, LM,
variable projection, grid check). Imports nothing above the forms and losses."""
