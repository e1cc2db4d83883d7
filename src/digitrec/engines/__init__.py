"""Engines that answer many inputs: `local` streams them through one predictor in bounded memory; `ray`
spreads the same work over a Ray cluster (`digitrec[distributed]`). Both produce the same answers, in the
same order, from the same pieces (`jobs.py`: what to read, in which chunks; `recognize.answers`)."""

from digitrec.engines.local import iter_recognize, recognize

__all__ = ["iter_recognize", "recognize"]
