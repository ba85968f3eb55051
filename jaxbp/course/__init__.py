"""The course's own formats and signatures: dicts keyed "W1"/"dW1"/"dA0", caches, assignments, notebooks.

    convert      course dicts and caches to and from Layer trees; the two dA key conventions
    assignments  the course's functions by name: networks, signatures, cache formats, calling them
    grading      jaxbp.check for them (backward through the checker); values (forward, cost), steps (one layer)
    problems     their random inputs (NumPy default_rng)
    helpers      the course's helper functions and forwards in NumPy; standins: missing helper modules
    notebook     a .ipynb's imports and definitions; frames: a learner's traceback, the call, a hint
"""

from jaxbp.course.convert import (
    dA_convention,
    dA_keys,
    dA_note,
    from_course,
    from_course_caches,
    grads_from_course,
    grads_to_course,
    to_course,
    to_course_caches,
)

__all__ = ["dA_convention", "dA_keys", "dA_note", "from_course", "from_course_caches", "grads_from_course",
           "grads_to_course", "to_course", "to_course_caches"]
