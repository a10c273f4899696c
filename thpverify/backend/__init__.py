"""Engines: the only package that imports a solver. Z3 is the prover of
record (compiler, solver, SMT-LIB export); cvc5 re-proves from the export."""
