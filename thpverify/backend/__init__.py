"""Engines: the only package that imports one (z3, dd, cvc5). Z3 is the
prover of record; the decision diagrams (dd with CUDD) answer the finite
questions and are confirmed by Z3; cvc5 re-proves from the SMT-LIB export.
`solver.Solver` is the session for one library; each job is a module of
its own that takes it: verdicts, counterexamples, explain, tables, chains,
smtlib."""
