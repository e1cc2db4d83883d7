"""Predict: the one path from an input to an answer, used by the CLI, the Python API and the server.

    reading.py    one input → a `Prediction` (or a `Failure` naming it): files, bytes, PIL images, arrays;
                  `ReadOptions` (number or digit, TTA, minimum confidence) say how
    jobs.py       the unit of work: what to read, in which chunks, in input order
    local.py      the local engine: any number of inputs, streamed through one predictor in bounded memory
    ray.py        the same answers, in the same order, from a Ray cluster (`digitrec[distributed]`)

The model itself is `digitrec.inference`'s; this package only feeds it and shapes its answers.
"""

from digitrec.predict.local import iter_recognize, recognize
from digitrec.predict.reading import Failure, Prediction, ReadOptions

__all__ = ["Failure", "Prediction", "ReadOptions", "iter_recognize", "recognize"]
